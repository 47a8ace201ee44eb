"""The vendor mapping kept in SSM or S3 (the template's VendorMapping), read with Powertools
Parameters against moto: cached, checked, and refused at cold start naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from hubrelay import asff, aws
from hubrelay.sources import mapping_store
from tests.support import load_handler

DEFAULT = json.loads((Path(asff.__file__).parent / "mapping" / "vendor_default.json").read_text())


@pytest.fixture
def moto() -> Iterator[dict[str, Any]]:
    with mock_aws():
        aws.reset()
        parameters.clear_caches()
        mapping_store._providers.clear()
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="acme-config")
        yield {"s3": s3, "ssm": boto3.client("ssm", region_name="us-east-1")}
        aws.reset()
        parameters.clear_caches()
        mapping_store._providers.clear()


def with_prefix(prefix: str) -> str:
    return json.dumps({**DEFAULT, "id_prefix": prefix})


def test_a_mapping_in_ssm_is_read_and_cached(moto):
    moto["ssm"].put_parameter(Name="/hubrelay/mapping", Value=with_prefix("a/"), Type="String")
    first = mapping_store.load("ssm:/hubrelay/mapping", s3=moto["s3"], max_age=300)
    assert first.spec["id_prefix"] == "a/"
    # Changed in SSM: the cached copy is used until max_age has passed
    moto["ssm"].put_parameter(
        Name="/hubrelay/mapping", Value=with_prefix("b/"), Type="String", Overwrite=True
    )
    cached = mapping_store.load("ssm:/hubrelay/mapping", s3=moto["s3"], max_age=300)
    assert cached.spec["id_prefix"] == "a/"
    # Without caching (max_age 0) every read sees the parameter as it is now
    moto["ssm"].put_parameter(Name="/hubrelay/other", Value=with_prefix("c/"), Type="String")
    assert (
        mapping_store.load("ssm:/hubrelay/other", s3=moto["s3"], max_age=0).spec["id_prefix"]
        == "c/"
    )
    moto["ssm"].put_parameter(
        Name="/hubrelay/other", Value=with_prefix("d/"), Type="String", Overwrite=True
    )
    assert (
        mapping_store.load("ssm:/hubrelay/other", s3=moto["s3"], max_age=0).spec["id_prefix"]
        == "d/"
    )


def test_a_mapping_in_s3_is_read_and_cached(moto):
    moto["s3"].put_object(Bucket="acme-config", Key="m/mapping.json", Body=with_prefix("s3/"))
    where = "s3://acme-config/m/mapping.json"
    assert mapping_store.load(where, s3=moto["s3"], max_age=300).spec["id_prefix"] == "s3/"
    moto["s3"].put_object(Bucket="acme-config", Key="m/mapping.json", Body=with_prefix("new/"))
    assert mapping_store.load(where, s3=moto["s3"], max_age=300).spec["id_prefix"] == "s3/"
    # Past max_age (here: the cache gone, as in a new process) the object is read again
    mapping_store._providers.clear()
    assert mapping_store.load(where, s3=moto["s3"], max_age=300).spec["id_prefix"] == "new/"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda m: m["finding"].update(title="title[?"), "finding.title: bad JMESPath 'title[?'"),
        (
            lambda m: m["finding"].pop("resources"),
            "finding: fields unknown [], missing ['resources']",
        ),
        (lambda m: m["page"].update(records=7), "page.records: not a JMESPath string"),
        (lambda m: m.pop("finding"), "finding: missing, or not an object"),
    ],
    ids=["bad-jmespath", "missing-field", "not-a-string", "no-finding"],
)
def test_a_mapping_that_cannot_work_is_refused_naming_the_field(moto, edit, reason):
    mapping = json.loads(json.dumps(DEFAULT))
    edit(mapping)
    moto["ssm"].put_parameter(Name="/m", Value=json.dumps(mapping), Type="String")
    with pytest.raises(mapping_store.MappingConfigError) as refused:
        mapping_store.load("ssm:/m", s3=moto["s3"], max_age=0)
    assert str(refused.value).startswith(f"vendor mapping ssm:/m: {reason}")


def test_a_mapping_that_is_not_there_says_so(moto):
    with pytest.raises(mapping_store.MappingConfigError) as refused:
        mapping_store.load("s3://acme-config/none.json", s3=moto["s3"], max_age=0)
    assert str(refused.value).startswith(
        "vendor mapping s3://acme-config/none.json: cannot be read"
    )
    with pytest.raises(mapping_store.MappingConfigError, match="vendor mapping ssm:/none: cannot"):
        mapping_store.load("ssm:/none", s3=moto["s3"], max_age=0)


def test_the_collector_refuses_to_start_with_a_broken_mapping(moto, monkeypatch):
    # Given the collector's environment naming a mapping in SSM whose title is broken
    broken = {**DEFAULT, "finding": {**DEFAULT["finding"], "title": "title[?"}}
    moto["ssm"].put_parameter(Name="/hubrelay/m", Value=json.dumps(broken), Type="String")
    monkeypatch.setenv("HUBRELAY_SOURCE", "vendor_api")
    monkeypatch.setenv("HUBRELAY_VENDOR_MAPPING", "ssm:/hubrelay/m")
    # Then its cold start fails with one error naming the mapping and the field
    with pytest.raises(mapping_store.MappingConfigError, match=r"ssm:/hubrelay/m: finding\.title"):
        load_handler("collector")
    # And with the mapping fixed, it starts
    moto["ssm"].put_parameter(
        Name="/hubrelay/m", Value=json.dumps(DEFAULT), Type="String", Overwrite=True
    )
    parameters.clear_caches()
    assert callable(load_handler("collector").handler)
