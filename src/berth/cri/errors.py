"""berth's errors as the gRPC status codes a kubelet understands."""

from __future__ import annotations

import functools

import grpc

from berth.errors import AlreadyExists, BerthError, DeadlineExceeded, FailedPrecondition, InvalidArgument, NotFound

_CODES = [(NotFound, grpc.StatusCode.NOT_FOUND), (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
          (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
          (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
          (DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED)]  # fmt: skip


def rpc(method):
    """A servicer method whose berth errors end the call with their status code and message."""

    @functools.wraps(method)
    def call(self, request, context):
        try:
            return method(self, request, context)
        except BerthError as e:
            code = next((code for kind, code in _CODES if isinstance(e, kind)), grpc.StatusCode.UNKNOWN)
            context.abort(code, str(e))

    return call
