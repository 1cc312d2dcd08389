"""The nested XML blocks WeChat's own pushes carry, and the bounds every pushed document keeps.

xmltodict (as wechatpy uses it) turns an element into a str (its text), None
(empty), a dict (its children; attributes as ``@name``, mixed text as
``#text``) or a list (an element repeated where it stands). wechatpy reads a
few fields as such dicts: the menu events' ``ScanCodeInfo``, ``SendPicsInfo``
and ``SendLocationInfo``, shake-around's ``ChosenBeacon`` and ``AroundBeacons``
(protocol doc §2). `BLOCKS` says what each may hold; a field wechatpy reads
that is neither a plain value nor one of these, shaped as here, is not from
WeChat.

Elements wechatpy does not read (a mass-send report's ``CopyrightCheckResult``,
fields of kinds it does not know) are left alone but bounded, with the whole
document: at most MAX_DEPTH levels under ``<xml>`` and MAX_ELEMENTS elements.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping

#: Characters one text value inside a block may hold (a QR code holds at most ~3 kB).
LEAF_CHARS = 4096
#: Levels under <xml> (a mass-send report goes CopyrightCheckResult > ResultList > item > field: 4).
MAX_DEPTH = 6
#: Elements in one document (WeChat's largest pushes hold about a hundred).
MAX_ELEMENTS = 1000


@dataclass(frozen=True)
class Block:
    """An element with children: their shapes (None: plain text) and how often it may repeat."""
    children: Mapping[str, "Block | None"] = field(default_factory=dict)
    most: int = 1


TEXT = None


def block(most: int = 1, **children: "Block | None") -> Block:
    return Block(children, most)


_BEACON = block(Uuid=TEXT, Major=TEXT, Minor=TEXT, Distance=TEXT)

#: By XML tag: the blocks wechatpy reads into a dict, as WeChat sends them.
BLOCKS: dict[str, Block] = {
    "ScanCodeInfo": block(ScanType=TEXT, ScanResult=TEXT),
    # The picture picker sends up to 9; 20 leaves room without letting a flood through.
    "SendPicsInfo": block(Count=TEXT, PicList=block(item=block(most=20, PicMd5Sum=TEXT))),
    "SendLocationInfo": block(Location_X=TEXT, Location_Y=TEXT, Scale=TEXT, Label=TEXT, Poiname=TEXT),
    "ChosenBeacon": _BEACON,
    "AroundBeacons": block(AroundBeacon=replace(_BEACON, most=50)),
}


def fits(value, shape: Block | None) -> bool:
    """True if `value` (as xmltodict made it) is what WeChat sends for `shape`."""
    if value is None:
        return True
    if shape is None:
        return isinstance(value, str) and len(value) <= LEAF_CHARS
    if not isinstance(value, dict):
        return False
    for name, child in value.items():
        if name not in shape.children:  # also '@attribute' and '#text'
            return False
        child_shape = shape.children[name]
        if isinstance(child, list):
            if child_shape is None or len(child) > child_shape.most:
                return False
            if not all(fits(item, child_shape) for item in child):
                return False
        elif not fits(child, child_shape):
            return False
    return True


def within_bounds(document: Mapping) -> bool:
    """True if the parsed document stays within MAX_DEPTH levels and MAX_ELEMENTS elements."""
    stack = [(value, 1) for value in document.values()]
    elements = 0
    while stack:
        value, depth = stack.pop()
        if isinstance(value, list):
            stack.extend((item, depth) for item in value)
            continue
        elements += 1
        if elements > MAX_ELEMENTS or depth > MAX_DEPTH:
            return False
        if isinstance(value, dict):
            stack.extend((child, depth + 1) for child in value.values())
    return True
