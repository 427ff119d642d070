"""Pick the one security group of an ENI that receives our rules (upstream-behaviour §4.3).

An ENI with exactly one SG uses it. With several, the candidates are the SGs tagged
``kubernetes.io/cluster/<cluster>`` (any value) and every ``--service-target-eni-security-group-tags``
pair; exactly one candidate is required. The error text follows upstream's, because users search
for it (known-issue theme 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.naming import cluster_tag_key


class EniSecurityGroupError(Exception):
    """No single SG of an ENI can receive rules."""


@dataclass(frozen=True)
class EniSGSelector:
    cluster_name: str
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    def candidates(self, group_ids: Sequence[str], tags_by_sg: Mapping[str, Mapping[str, str]]) -> list[str]:
        key = cluster_tag_key(self.cluster_name)
        return sorted(
            sg
            for sg in group_ids
            if key in tags_by_sg.get(sg, {})
            and all(tags_by_sg.get(sg, {}).get(k) == v for k, v in self.extra_tags.items())
        )

    def select(
        self, eni_id: str, group_ids: Sequence[str], tags_by_sg: Mapping[str, Mapping[str, str]]
    ) -> str:
        """The SG for ``eni_id``; ``tags_by_sg`` must hold the tags of every SG when there are several."""
        if len(group_ids) == 1:
            return group_ids[0]
        found = self.candidates(group_ids, tags_by_sg)
        if len(found) == 1:
            return found[0]
        raise EniSecurityGroupError(self.error_message(eni_id, found))

    def error_message(self, eni_id: str, candidates: Sequence[str]) -> str:
        tagged_with = cluster_tag_key(self.cluster_name)
        if self.extra_tags:
            # Go renders a map as map[k:v k2:v2] with sorted keys; keep that for searchability.
            rendered = " ".join(f"{k}:{v}" for k, v in sorted(self.extra_tags.items()))
            tagged_with = f"{tagged_with} and map[{rendered}]"
        return (
            f"expected exactly one securityGroup tagged with {tagged_with} for eni {eni_id}, "
            f"got: [{' '.join(candidates)}] (clusterName: {self.cluster_name})"
        )
