"""Build, package, deploy and publish hubrelay: what `make build|package|deploy|publish` run.

Dev tooling, never shipped. One module per step: `zips` (build: reproducible zips), `wheel`
(build: the wheel of the `hubrelay` command), `template` (template.yaml as CloudFormation
reads it, the packaged copy), `buckets`
(Regions, artifact bucket names, URLs, quick-create links), `upload` (package: one bucket;
publish: one bucket per Region), `deploy` (create or update a stack with boto3) and `cli`
(``python -m hubrelay_release <command>``). The names below are the public surface.
"""

from hubrelay_release.base import PACKAGED_NAME, ROOT, TEMPLATE_NAME, ReleaseError
from hubrelay_release.buckets import bucket_region, launch_link, partition_of, s3_url
from hubrelay_release.bytecode import Compiler, find_compiler, runtime_version
from hubrelay_release.deploy import DeployPlan, deploy, parse_params, plan_deploy
from hubrelay_release.template import (
    ARTIFACT_PARAMETERS,
    check_parameter,
    decode_template,
    default_key_prefix,
    packaged_template,
    plain,
    read_template,
    referenced_artifacts,
    set_defaults,
)
from hubrelay_release.upload import Upload, package, publish, upload
from hubrelay_release.zips import Artifact, build, check_artifacts

__all__ = [
    "ARTIFACT_PARAMETERS",
    "PACKAGED_NAME",
    "ROOT",
    "TEMPLATE_NAME",
    "Artifact",
    "Compiler",
    "DeployPlan",
    "ReleaseError",
    "Upload",
    "bucket_region",
    "build",
    "check_artifacts",
    "check_parameter",
    "decode_template",
    "default_key_prefix",
    "deploy",
    "find_compiler",
    "launch_link",
    "package",
    "packaged_template",
    "parse_params",
    "partition_of",
    "plain",
    "plan_deploy",
    "publish",
    "read_template",
    "referenced_artifacts",
    "runtime_version",
    "s3_url",
    "set_defaults",
    "upload",
]
