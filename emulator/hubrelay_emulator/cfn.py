"""Read template.yaml and resolve it for given parameters, as CloudFormation would.

Covers what hubrelay's template uses: parameters (with defaults, SSM-typed parameters
resolved by a callback), pseudo parameters, conditions, Ref, Fn::GetAtt, Fn::Sub,
Fn::Join, Fn::Select, Fn::Split, Fn::If, Fn::FindInMap, Fn::Base64, Fn::GetAZs and
AWS::NoValue. Anything else raises, so a template change the runner does not understand
fails loudly instead of being half-deployed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hubrelay_release.base import ReleaseError
from hubrelay_release.template import decode_template, plain

_SUB_RE = re.compile(r"\$\{([^}!]+)\}")
NO_VALUE = object()


class TemplateError(Exception):
    pass


def load(path: str | Path) -> dict[str, Any]:
    """The template at `path` as CloudFormation reads it, in plain dicts, lists and strings."""
    try:
        template = decode_template(Path(path).read_text(encoding="utf-8"))
    except ReleaseError as exc:
        raise TemplateError(f"cannot decode {path}: {exc}") from exc
    loaded: dict[str, Any] = plain(template)
    return loaded


def parameter_values(
    template: Mapping[str, Any],
    overrides: Mapping[str, str],
    resolve_ssm: Callable[[str], str],
) -> dict[str, str]:
    """Each declared parameter's value: the override or the default, checked against the
    parameter's constraints, SSM-typed ones read through `resolve_ssm`."""
    declared = template.get("Parameters", {})
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"unknown parameters: {sorted(unknown)}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        raw = overrides.get(name, spec.get("Default"))
        if raw is None:
            raise TemplateError(f"parameter {name} has no default and no value")
        raw = str(raw)
        _check_parameter(name, spec, raw)
        if str(spec.get("Type", "")).startswith("AWS::SSM::Parameter::Value"):
            raw = resolve_ssm(raw)
        values[name] = raw
    return values


def pseudo_parameters(region: str, account: str, stack_name: str) -> dict[str, str]:
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    return {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::Partition": partition,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account}:stack/"
        f"{stack_name}/00000000-0000-0000-0000-000000000000",
        "AWS::URLSuffix": "amazonaws.com",
    }


@dataclass
class Resolver:
    template: dict[str, Any]
    parameters: dict[str, str]
    pseudo: dict[str, str]
    # logical id -> {"Ref": value, "<Attr>": value}; filled as resources are created.
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        template: dict[str, Any],
        overrides: Mapping[str, str],
        *,
        region: str,
        account: str,
        stack_name: str,
        resolve_ssm: Callable[[str], str],
    ) -> Resolver:
        values = parameter_values(template, overrides, resolve_ssm)
        pseudo = pseudo_parameters(region, account, stack_name)
        resolver = cls(template, values, pseudo)
        for name in template.get("Conditions", {}):
            resolver.condition(name)
        return resolver

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            spec = self.template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self.conditions[name] = bool(self.resolve(spec))
        return self.conditions[name]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [r for r in (self.resolve(v) for v in value) if r is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            handler = _INTRINSICS.get(key)
            if handler is not None:
                return handler(self, arg)
        return {
            k: r for k, r in ((k, self.resolve(v)) for k, v in value.items()) if r is not NO_VALUE
        }

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            spec = self.template["Parameters"][name]
            if str(spec.get("Type", "")).startswith("List<") or spec.get("Type") == (
                "CommaDelimitedList"
            ):
                return [p.strip() for p in self.parameters[name].split(",") if p.strip()]
            return self.parameters[name]
        if name in self.attributes:
            return self.attributes[name]["Ref"]
        raise TemplateError(f"Ref to {name}, which is not a parameter or a created resource")

    def get_att(self, name: str, attribute: str) -> Any:
        try:
            return self.attributes[name][attribute]
        except KeyError:
            raise TemplateError(f"GetAtt {name}.{attribute} is not available") from None

    def sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key and key.split(".", 1)[0] in self.attributes:
                return str(self.get_att(*key.split(".", 1)))
            return str(self.ref(key))

        return _SUB_RE.sub(replace, text).replace("${!", "${")

    def references(self, value: Any) -> set[str]:
        """Logical ids that `value` refers to (for ordering resource creation)."""
        found: set[str] = set()
        if isinstance(value, list):
            for v in value:
                found |= self.references(v)
        elif isinstance(value, dict):
            for key, arg in value.items():
                if key == "Ref" and isinstance(arg, str):
                    found.add(arg)
                elif key == "Fn::GetAtt":
                    found.add(arg[0] if isinstance(arg, list) else str(arg).split(".")[0])
                elif key == "Fn::Sub":
                    text = arg[0] if isinstance(arg, list) else arg
                    found |= {m.split(".")[0] for m in _SUB_RE.findall(text)}
                    if isinstance(arg, list):
                        found |= self.references(arg[1])
                else:
                    found |= self.references(arg)
        return found & set(self.template.get("Resources", {}))


def _check_parameter(name: str, spec: Mapping[str, Any], raw: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed is not None and raw not in [str(a) for a in allowed]:
        raise TemplateError(f"parameter {name}={raw!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, raw):
        raise TemplateError(f"parameter {name}={raw!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(raw)
        except ValueError:
            raise TemplateError(f"parameter {name}={raw!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={raw} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={raw} is above {spec['MaxValue']}")


def rule_violations(template: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """`Rule: AssertDescription` of each failed assertion of the template's Rules whose
    RuleCondition holds: what CloudFormation refuses a stack for before creating anything.
    The rule functions the template uses (Ref, Fn::Equals, Not, And, Or, Contains); any
    other raises, as an unknown intrinsic does."""
    found = []
    for name, rule in template.get("Rules", {}).items():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        for assertion in rule.get("Assertions", []):
            if not _rule_value(assertion["Assert"], values):
                found.append(f"{name}: {assertion.get('AssertDescription', 'failed')}")
    return found


def _rule_value(node: Any, values: Mapping[str, str]) -> Any:
    if isinstance(node, list):
        return [_rule_value(item, values) for item in node]
    if isinstance(node, bool):  # YAML's unquoted true, as CloudFormation reads it
        return str(node).lower()
    if not isinstance(node, Mapping):
        return str(node)
    ((function, arg),) = node.items()
    if function == "Ref":
        return values[arg]
    args = _rule_value(arg, values)
    if function == "Fn::Equals":
        return args[0] == args[1]
    if function == "Fn::Not":
        return not args[0]
    if function == "Fn::And":
        return all(args)
    if function == "Fn::Or":
        return any(args)
    if function == "Fn::Contains":
        return args[1] in args[0]
    raise TemplateError(f"rule function {function} is not supported")


def _get_att(r: Resolver, arg: Any) -> Any:
    name, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return r.get_att(name, r.resolve(attribute))


def _sub(r: Resolver, arg: Any) -> str:
    if isinstance(arg, list):
        return r.sub(arg[0], r.resolve(arg[1]))
    return r.sub(arg, {})


def _join(r: Resolver, arg: Any) -> str:
    separator, values = arg
    return str(separator).join(str(v) for v in r.resolve(values))


def _select(r: Resolver, arg: Any) -> Any:
    index, values = arg
    return r.resolve(values)[int(r.resolve(index))]


def _split(r: Resolver, arg: Any) -> list[str]:
    separator, text = arg
    return str(r.resolve(text)).split(separator)


def _if(r: Resolver, arg: Any) -> Any:
    name, when_true, when_false = arg
    return r.resolve(when_true if r.condition(name) else when_false)


def _find_in_map(r: Resolver, arg: Any) -> Any:
    name, top, second = (r.resolve(a) for a in arg[:3])
    return r.template["Mappings"][name][top][second]


_INTRINSICS: dict[str, Callable[[Resolver, Any], Any]] = {
    "Ref": lambda r, arg: r.ref(arg),
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::If": _if,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": lambda r, arg: base64.b64encode(str(r.resolve(arg)).encode()).decode(),
    "Fn::GetAZs": lambda r, arg: [f"{r.pseudo['AWS::Region']}{z}" for z in "abc"],
    "Fn::Equals": lambda r, arg: str(r.resolve(arg[0])) == str(r.resolve(arg[1])),
    "Fn::Not": lambda r, arg: not r.resolve(arg[0]),
    "Fn::And": lambda r, arg: all(r.resolve(a) for a in arg),
    "Fn::Or": lambda r, arg: any(r.resolve(a) for a in arg),
    "Condition": lambda r, arg: r.condition(arg),
}


def creation_order(resolver: Resolver) -> list[str]:
    """Logical ids of the resources whose condition holds, dependencies first."""
    resources = resolver.template.get("Resources", {})
    wanted = {
        name
        for name, spec in resources.items()
        if "Condition" not in spec or resolver.condition(spec["Condition"])
    }
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order or name not in wanted:
            return
        if name in visiting:
            raise TemplateError(f"circular dependency through {name}")
        visiting.add(name)
        spec = resources[name]
        depends = spec.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        for dependency in sorted(set(depends) | resolver.references(spec.get("Properties", {}))):
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in sorted(wanted):
        visit(name)
    return order
