"""Test doubles and the stack emulator, never shipped.

moto extended to the documented Security Hub and OpsCenter contracts (`securityhub`,
`opscenter`), EventBridge pattern matching (`eventpattern`), IAM policy evaluation (`iam`),
CloudFormation template resolution (`cfn`), the emulator that runs template.yaml on one
machine (`runner.StackEmulator`), sample findings (`samples`), and what runs on top of it:
`make demo` (`demo`) and fault injection (`faults`).
"""
