"""The CRI ImageService over the engine's images."""

from __future__ import annotations

import time

from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc

from berth.cri.errors import rpc
from berth.errors import NotFound


class ImageService(api_pb2_grpc.ImageServiceServicer):
    def __init__(self, engine, config) -> None:
        self.engine = engine
        self.config = config  # berth.cri.config.CriConfig: its registry mirrors

    def _image(self, image) -> cri.Image:
        return cri.Image(id=image.id, repo_tags=list(image.tags), repo_digests=[], size=image.size)

    @rpc
    def ListImages(self, request, context):
        wanted = request.filter.image.image if request.HasField("filter") else ""
        images = self.engine.store.list()
        if wanted:
            try:
                images = [self.engine.store.get(wanted)]
            except NotFound:
                images = []
        return cri.ListImagesResponse(images=[self._image(i) for i in images])

    @rpc
    def ImageStatus(self, request, context):
        try:
            image = self.engine.store.get(request.image.image)
        except NotFound:
            return cri.ImageStatusResponse()  # the CRI's "not present": no image, no error
        return cri.ImageStatusResponse(image=self._image(image))

    @rpc
    def PullImage(self, request, context):
        auth = None
        if request.auth.username:
            auth = (request.auth.username, request.auth.password)
        image_id = self.engine.images.pull(request.image.image, auth=auth, mirrors=self.config.mirrors)
        return cri.PullImageResponse(image_ref=image_id)

    @rpc
    def RemoveImage(self, request, context):
        try:
            self.engine.images.remove(request.image.image)
        except NotFound:
            pass  # removing is idempotent
        return cri.RemoveImageResponse()

    @rpc
    def ImageFsInfo(self, request, context):
        root, used, inodes = self.engine.images.usage()
        usage = cri.FilesystemUsage(timestamp=time.time_ns(), fs_id=cri.FilesystemIdentifier(mountpoint=root),
                                    used_bytes=cri.UInt64Value(value=used), inodes_used=cri.UInt64Value(value=inodes))  # fmt: skip
        return cri.ImageFsInfoResponse(image_filesystems=[usage])
