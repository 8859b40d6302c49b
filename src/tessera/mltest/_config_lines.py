"""Line numbers of keys in a YAML (or JSON) document, for config error messages."""

from __future__ import annotations

from typing import Any

__all__ = ["line_of", "yaml_tree"]


def yaml_tree(text: str) -> Any:
    """The composed YAML node tree of ``text``, or ``None`` if it cannot be composed."""
    import yaml

    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def line_of(tree: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node on ``loc`` (a key's own line for mapping keys).

    A missing key points at the mapping that lacks it; 0 means unknown.
    """
    import yaml

    if tree is None:
        return 0
    node = tree
    line = int(node.start_mark.line) + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    line = int(key_node.start_mark.line) + 1
                    node = value_node
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and (0 <= part < len(node.value))
        ):
            node = node.value[part]
            line = int(node.start_mark.line) + 1
        else:
            return line
    if isinstance(node, yaml.ScalarNode | yaml.SequenceNode) and not loc:
        return int(node.start_mark.line) + 1
    return line
