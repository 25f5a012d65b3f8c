"""Tools an agent's code runs through: :mod:`thinkgraph.tools.sandbox` runs model-written programs isolated.

``run_program(code)`` and ``call_function(code, "f", inputs)`` are the entry points; see
:mod:`thinkgraph.tools.sandbox` for the isolation, the limits and how a run's status is decided.
"""

from thinkgraph.tools.calls import CallOutcome, FunctionRun, call_function
from thinkgraph.tools.sandbox import (
    CodeRunner,
    Execution,
    Job,
    Sandbox,
    SandboxLimits,
    SandboxResult,
    SandboxStatus,
    SandboxUnavailable,
    SandboxUsageError,
    default_runner,
    run_program,
    sandbox_tool_call,
    tool_call_payload,
)

__all__ = [
    "CallOutcome",
    "CodeRunner",
    "Execution",
    "FunctionRun",
    "Job",
    "Sandbox",
    "SandboxLimits",
    "SandboxResult",
    "SandboxStatus",
    "SandboxUnavailable",
    "SandboxUsageError",
    "call_function",
    "default_runner",
    "run_program",
    "sandbox_tool_call",
    "tool_call_payload",
]
