"""The llama.cpp library itself: its log lines sent to ``logging``, and the CPUs it may use."""

from __future__ import annotations

import ctypes
import logging
import os
from typing import Any

_native_log = logging.getLogger(__name__)
_LOG_CALLBACK: Any = None


def _route_native_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines to ``logging`` instead of stderr (once per process).

    llama-cpp-python's ``verbose=False`` still prints llama.cpp warnings such as
    the SWA cache notice on every load; routing them to a logger leaves the
    decision to whoever configures logging.
    """
    global _LOG_CALLBACK
    if _LOG_CALLBACK is not None:
        return
    # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation. llama.cpp
    # warns about routine things (cache sizes, tokenizer quirks), hence INFO.
    levels = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}
    last = [logging.DEBUG]

    def forward(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        lvl = last[0] if level == 5 else levels.get(level, logging.DEBUG)
        last[0] = lvl
        if _native_log.isEnabledFor(lvl):
            _native_log.log(lvl, "%s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = llama_cpp.llama_log_callback(forward)  # kept referenced: C holds a raw pointer
    llama_cpp.llama_log_set(_LOG_CALLBACK, ctypes.c_void_p(0))


def _usable_cpus() -> int:
    # llama.cpp's own default (half the logical CPUs) leaves small machines half idle.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
