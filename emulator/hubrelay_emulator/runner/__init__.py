"""The stack emulator: template.yaml run on moto's server, its functions in this process.

`StackEmulator` (`emulator`) is the one object callers hold; behind it, `resources`
creates what the template declares, `functions` loads and invokes the functions with
their roles enforced, `queues` polls SQS as event source mappings do, and `events` routes
schedules and Security Hub's events through the template's rules.
"""

from hubrelay_emulator.runner.emulator import DEFAULT_ACCOUNT, DEFAULT_REGION, StackEmulator
from hubrelay_emulator.runner.model import ROOT, LambdaFunction, StackError

__all__ = [
    "DEFAULT_ACCOUNT",
    "DEFAULT_REGION",
    "ROOT",
    "LambdaFunction",
    "StackEmulator",
    "StackError",
]
