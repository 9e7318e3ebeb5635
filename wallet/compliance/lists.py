"""Sanctions lists read from the files their publishers publish, streamed (the real files are tens of
megabytes) with lxml, entities not resolved and the network never touched.

- OFAC's SDN list, `sdn.xml` (namespace `https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML`
  or the older `http://tempuri.org/sdnList.xsd`: any namespace is accepted): `sdnEntry` with `firstName`,
  `lastName`, `sdnType`, `programList`, `akaList`, `idList` (whose `Digital Currency Address - ETH`
  ids become blocked addresses), `nationalityList`, `citizenshipList`, `addressList`,
  `dateOfBirthList`; the version is `publshInformation/Publish_Date` (sic).
- The EU's consolidated financial sanctions list (`export`, namespace
  `http://eu.europa.ec/fpi/fsd/export`): `sanctionEntity` with `subjectType`, `nameAlias@wholeName`,
  `birthdate@birthdate|@year`, `citizenship@countryIso2Code`, `address@countryIso2Code`,
  `regulation@programme`; the version is `export@generationDate`.
- The UN Security Council's consolidated list (`CONSOLIDATED_LIST`, no namespace): `INDIVIDUAL` and
  `ENTITY` with `FIRST_NAME` .. `FOURTH_NAME`, `NAME_ORIGINAL_SCRIPT`, `*_ALIAS/ALIAS_NAME`,
  `INDIVIDUAL_DATE_OF_BIRTH/DATE|YEAR`, `NATIONALITY/VALUE`, `UN_LIST_TYPE`, `REFERENCE_NUMBER`; the
  version is `CONSOLIDATED_LIST@dateGenerated`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from wallet.compliance.matching import Entry
from wallet.errors import InvalidRequestError

LISTS = ("ofac", "eu", "un")
ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@dataclass(frozen=True)
class LoadedList:
    """A list file as read: its publisher's version, the file's SHA-256, and its entries."""

    name: str
    version: str
    sha256: str
    entries: list[Entry]


def read_list(path: Path, list_name: str) -> LoadedList:
    """Reads `path` as the `list_name` list (ofac, eu or un); `InvalidRequestError` when it is not one."""
    if list_name not in LISTS:
        raise InvalidRequestError(f"the list must be one of {', '.join(LISTS)}, not {list_name!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = {"ofac": _ofac, "eu": _eu, "un": _un}[list_name]
    try:
        version, entries = reader(path)
    except etree.XMLSyntaxError as exc:
        raise InvalidRequestError(f"{path} is not well-formed XML: {exc}") from None
    if not entries:
        raise InvalidRequestError(f"{path} has no entries of the {list_name} list's format")
    return LoadedList(list_name, version, digest, entries)


def _events(path: Path, tags: set[str]) -> Iterator[tuple[str, Any]]:
    """(local tag, element) for each ended element named in `tags`, freeing what was read."""
    parser = etree.iterparse(
        str(path),
        events=("end",),
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        remove_comments=True,
    )
    for _, element in parser:
        tag = etree.QName(element).localname
        if tag in tags:
            yield tag, element


def _local(element: Any, name: str) -> list[Any]:
    return [child for child in element.iter() if etree.QName(child).localname == name]


def _text(element: Any, name: str) -> str:
    found = _local(element, name)
    return " ".join((found[0].text or "").split()) if found else ""


def _ofac(path: Path) -> tuple[str, list[Entry]]:
    version, entries = "", []
    for tag, element in _events(path, {"sdnEntry", "Publish_Date"}):
        if tag == "Publish_Date":
            version = _ofac_date(element.text or "") or (element.text or "")
            continue
        names = [_join(_text(element, "firstName"), _text(element, "lastName"))]
        for aka in _local(element, "aka"):
            names.append(_join(_text(aka, "firstName"), _text(aka, "lastName")))
        addresses = []
        for ident in _local(element, "id"):
            kind, number = _text(ident, "idType"), _text(ident, "idNumber")
            if kind.startswith("Digital Currency Address") and ETH_ADDRESS.match(number):
                addresses.append(number.lower())
        births = [
            d for d in (_ofac_date(_text(b, "dateOfBirth")) for b in _local(element, "dateOfBirthItem")) if d
        ]
        countries = [
            _text(c, "country") for c in _local(element, "nationality") + _local(element, "citizenship")
        ]
        countries += [_text(a, "country") for a in _local(element, "address")]
        kind = _text(element, "sdnType").lower()
        entries.append(
            Entry(
                list_name="ofac",
                entry_id=_text(element, "uid"),
                kind="person" if kind == "individual" else kind or "entity",
                names=tuple(n for n in names if n),
                birth_dates=tuple(births),
                countries=tuple(dict.fromkeys(c for c in countries if c)),
                programs=tuple(p.text or "" for p in _local(element, "program")),
                addresses=tuple(addresses),
            )
        )
        element.clear()
    return version, entries


def _ofac_date(text: str) -> str | None:
    """OFAC writes `10 Jan 1958`, `Jan 1958`, `1958` or `11/20/2026`; ISO (or a year) is returned."""
    text = text.strip()
    for pattern in ("%m/%d/%Y", "%d %b %Y"):
        try:
            return datetime.strptime(text, pattern).date().isoformat()
        except ValueError:
            pass
    year = re.search(r"\b(1[89]\d\d|20\d\d)\b", text)
    return year.group(1) if year else None


def _eu(path: Path) -> tuple[str, list[Entry]]:
    version, entries = "", []
    for tag, element in _events(path, {"sanctionEntity", "export"}):
        if tag == "export":
            version = element.get("generationDate", "")
            continue
        subject = _local(element, "subjectType")
        code = subject[0].get("code", "") if subject else ""
        names = [a.get("wholeName", "") for a in _local(element, "nameAlias")]
        births = [b.get("birthdate") or b.get("year") or "" for b in _local(element, "birthdate")]
        countries = [
            c.get("countryIso2Code", "") for c in _local(element, "citizenship") + _local(element, "address")
        ]
        programs = [r.get("programme", "") for r in _local(element, "regulation")]
        entries.append(
            Entry(
                list_name="eu",
                entry_id=element.get("euReferenceNumber") or element.get("logicalId", ""),
                kind="person" if code == "person" else "entity",
                names=tuple(dict.fromkeys(n.strip() for n in names if n.strip())),
                birth_dates=tuple(b for b in births if b),
                countries=tuple(dict.fromkeys(c for c in countries if c and c != "00")),
                programs=tuple(dict.fromkeys(p for p in programs if p)),
            )
        )
        element.clear()
    return version, entries


def _un(path: Path) -> tuple[str, list[Entry]]:
    version, entries = "", []
    for tag, element in _events(path, {"INDIVIDUAL", "ENTITY", "CONSOLIDATED_LIST"}):
        if tag == "CONSOLIDATED_LIST":
            version = element.get("dateGenerated", "")
            continue
        parts = [_direct(element, f"{n}_NAME") for n in ("FIRST", "SECOND", "THIRD", "FOURTH")]
        names = [" ".join(p for p in parts if p)]
        names.append(_direct(element, "NAME_ORIGINAL_SCRIPT"))
        for alias in _local(element, f"{tag}_ALIAS"):
            names.append(_text(alias, "ALIAS_NAME"))
        births = []
        for item in _local(element, "INDIVIDUAL_DATE_OF_BIRTH"):
            births.append(_text(item, "DATE") or _text(item, "YEAR"))
        countries = [_text(n, "VALUE") for n in _local(element, "NATIONALITY")]
        entries.append(
            Entry(
                list_name="un",
                entry_id=_direct(element, "REFERENCE_NUMBER") or _direct(element, "DATAID"),
                kind="person" if tag == "INDIVIDUAL" else "entity",
                names=tuple(dict.fromkeys(n for n in names if n)),
                birth_dates=tuple(b[:10] for b in births if b),
                countries=tuple(c for c in countries if c),
                programs=tuple(p for p in (_direct(element, "UN_LIST_TYPE"),) if p),
            )
        )
        element.clear()
    return version, entries


def _direct(element: Any, name: str) -> str:
    for child in element:
        if etree.QName(child).localname == name:
            return " ".join((child.text or "").split())
    return ""


def _join(first: str, last: str) -> str:
    return " ".join(p for p in (first, last) if p)
