"""Errors the API answers with: JSON `{"code", "message"}` and an HTTP status."""


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def bad_request(field: str, problem: str) -> ApiError:
    return ApiError(400, f"invalid '{field}': {problem}")
