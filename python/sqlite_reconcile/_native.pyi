from typing import List, Optional, Tuple

VERSION: str

class NativeError(Exception): ...

def apply(
    db: str,
    schema_dir: Optional[str] = None,
    schema_files: Optional[List[Tuple[str, str]]] = None,
    allow_destructive: bool = False,
    busy_timeout_ms: int = 5000,
    exclude: List[str] = ...,
) -> str: ...
def plan(
    db: str,
    schema_dir: Optional[str] = None,
    schema_files: Optional[List[Tuple[str, str]]] = None,
    busy_timeout_ms: int = 5000,
    exclude: List[str] = ...,
) -> str: ...
def drift(
    db: str,
    schema_dir: Optional[str] = None,
    schema_files: Optional[List[Tuple[str, str]]] = None,
    busy_timeout_ms: int = 5000,
    exclude: List[str] = ...,
) -> str: ...
def rollback(db: str, to: Optional[str] = None, allow_destructive: bool = False, busy_timeout_ms: int = 5000) -> str: ...
def history_of(db: str, busy_timeout_ms: int = 5000) -> str: ...
def run_cli(argv: List[str]) -> int: ...
