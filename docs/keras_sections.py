"""A griffe extension: Keras' docstring sections, rendered as they read.

keras_recur's docstrings follow Keras' layer files: `Args:`, `Call
arguments:`, `Example:` and `Reference:`. Griffe's Google parser knows
`Examples:` (and turns its `>>>` lines into code blocks) but not the
singular, and renders an unknown section such as `Call arguments:` as one
run-on paragraph. This renames `Example:` to `Examples:`, indenting the
example under it, turns `Call arguments:` into a titled list and
`Reference:` into a title over its list of papers, without touching the
docstrings themselves; and it drops the docstring that inspection lends a
plain class attribute from its value's type.
"""

import re

import griffe

# Inspection gives a class attribute such as `gate_count = 3` the docstring
# of its value's type (int's); such an attribute has no documentation of
# its own and is left out.
_BUILTIN_DOCS = {
    kind.__doc__
    for kind in (int, float, str, bool, tuple, list, dict, frozenset, set)
}
_SECTION = re.compile(r"^[A-Z][\w ]*:$")
_ENTRY = re.compile(r"^(\*{0,2}\w+)( \([^)]*\))?: ?(.*)$")


def _call_arguments(lines):
    """The entries of a `Call arguments:` block as a Markdown list."""
    items = []
    for line in lines:
        entry = _ENTRY.match(line)
        if entry and not line.startswith(" "):
            items.append(f"- `{entry[1]}`: {entry[3]}")
        elif items:
            items[-1] += " " + line.strip()
    return ["**Call arguments:**", "", *items, ""]


def keras_sections(text):
    """`text`, a dedented docstring, with the two sections rewritten."""
    lines = text.splitlines()
    out = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line == "Example:":
            # Keras writes the example below the title, not indented under
            # it as Google style (and griffe) expect.
            out.append("Examples:")
            index += 1
            while index < len(lines) and not _SECTION.match(lines[index]):
                out.append("    " + lines[index] if lines[index] else "")
                index += 1
            continue
        elif line == "Reference:":
            # Keras' list of papers below it; unknown to griffe, whose
            # Google parser would read the title as an empty admonition.
            out.append("**Reference:**")
        elif line == "Call arguments:":
            block = []
            index += 1
            while index < len(lines) and (
                lines[index].startswith(" ") or not lines[index]
            ):
                if lines[index]:
                    block.append(lines[index][4:])
                index += 1
            out.extend(_call_arguments(block))
            continue
        else:
            out.append(line)
        index += 1
    return "\n".join(out)


class KerasSections(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is None:
            return
        if obj.is_attribute and obj.docstring.value in {
            griffe.Docstring(doc).value for doc in _BUILTIN_DOCS
        }:
            obj.docstring = None
            return
        obj.docstring.value = keras_sections(obj.docstring.value)
