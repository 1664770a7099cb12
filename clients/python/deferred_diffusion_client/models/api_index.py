from collections.abc import Mapping
from typing import Any, TypeVar, TYPE_CHECKING

from attrs import define as _attrs_define
from attrs import field as _attrs_field


if TYPE_CHECKING:
    from ..models.api_index_domains import ApiIndexDomains


T = TypeVar("T", bound="ApiIndex")


@_attrs_define
class ApiIndex:
    """Links to everything else; needs no key.

    Attributes:
        name (str):
        version (str):
        docs (str): Swagger UI, with an example body for every request.
        openapi (str): The OpenAPI document.
        files (str): POST: upload an input file; use its `ref` in requests.
        domains (ApiIndexDomains):
        healthz (str):
        readyz (str):
    """

    name: str
    version: str
    docs: str
    openapi: str
    files: str
    domains: "ApiIndexDomains"
    healthz: str
    readyz: str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        version = self.version

        docs = self.docs

        openapi = self.openapi

        files = self.files

        domains = self.domains.to_dict()

        healthz = self.healthz

        readyz = self.readyz

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "version": version,
                "docs": docs,
                "openapi": openapi,
                "files": files,
                "domains": domains,
                "healthz": healthz,
                "readyz": readyz,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.api_index_domains import ApiIndexDomains

        d = dict(src_dict)
        name = d.pop("name")

        version = d.pop("version")

        docs = d.pop("docs")

        openapi = d.pop("openapi")

        files = d.pop("files")

        domains = ApiIndexDomains.from_dict(d.pop("domains"))

        healthz = d.pop("healthz")

        readyz = d.pop("readyz")

        api_index = cls(
            name=name,
            version=version,
            docs=docs,
            openapi=openapi,
            files=files,
            domains=domains,
            healthz=healthz,
            readyz=readyz,
        )

        api_index.additional_properties = d
        return api_index

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
