"""What a pull or a push reports as it goes; front ends draw it."""


class Progress:
    def layer(self, digest: str, status: str, current: int = 0, total: int = 0) -> None:
        pass

    def line(self, text: str) -> None:
        pass
