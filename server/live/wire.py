"""The server's side of the wire: the payloads it publishes, built from the shared tables
(``playbach_protocol.EVENT``, ``VOICE``, ``STATUS``) and checked as every player checks them, and
the commands it takes on PREFIX/control.

A command comes as text (``tempo 90``) or JSON (``{"cmd": "tempo", "bpm": 90}``); CONTROLS gives
each one's argument, its kind and range. ``decode_control`` raises ``ValueError`` naming what is
wrong for any input, whatever its type, size or nesting.
"""
import json

import playbach_protocol as protocol

# A primer as text takes ~10 bytes an event: this holds some 20,000 (a long piece); the server
# keeps the model's context of it (LiveServer).
MAX_CONTROL = 262144  # bytes

CONTROL_VERSIONS = (1, 2)  # a control's "v", if any: controls are as schema 1 had them

# command: (argument, kind, lowest, highest); None for commands without an argument.
CONTROLS = {
    "play": None, "pause": None, "stop": None,
    "tempo": ("bpm", protocol.NUMBER, protocol.MIN_BPM, protocol.MAX_BPM),
    "temperature": ("value", protocol.NUMBER, 0.05, 5.0),
    "top_k": ("value", protocol.INT, 0, 100000),
    "top_p": ("value", protocol.NUMBER, 0.01, 1.0),
    "seed": ("value", protocol.INT, 0, 2147483647),
    "primer": ("name", protocol.TEXT, None, None),
}


def message(table, *values, **optional):
    """The dict of a ``table`` payload: the values of its SENT fields, in the table's order,
    and OPTIONAL ones by name; derived fields filled in. ``ValueError`` names a bad field."""
    values, result = list(values), {"v": protocol.SCHEMA_VERSION}
    for name, _, _, _, source in table[1]:  # in the table's order, as they will read
        if source is protocol.SENT:
            result[name] = values.pop(0) if values else None
        elif source is not protocol.OPTIONAL or name in optional:
            result[name] = optional.pop(name, None)  # a derived field: filled in below
    result.update(optional)
    return protocol.check_message(table, result, fill=True)


def encode(table, *values, **optional):
    """The JSON of a ``table`` payload (see :func:`message`)."""
    return json.dumps(message(table, *values, **optional))


def encode_control(command, value=None):
    """The JSON of a control command, e.g. ``encode_control("tempo", 90)``."""
    control = {"cmd": command}
    spec = CONTROLS.get(command, ())
    if spec:
        control[spec[0]] = value
    return json.dumps(decode_control(json.dumps(control)))


def decode_control(payload):
    """``{"cmd": ..., argument: value}`` from JSON or from text such as ``tempo 90``.

    ``primer`` takes an optional ``name`` (a shipped primer; none picks one at random) or
    ``tokens`` (events such as ``"B2 A2:1/2 G2"``).
    """
    text = protocol.text_of(payload, "control", MAX_CONTROL)
    if text.lstrip()[:1] == "{":
        control = protocol.load(text, "control", MAX_CONTROL, versioned=False,
                                versions=CONTROL_VERSIONS)
    else:
        words = text.split(None, 1)
        control = {"cmd": words[0] if words else ""}
        spec = CONTROLS.get(control["cmd"])
        if spec and len(words) > 1:
            control[spec[0]] = _argument(words[1].strip(), spec)
    command = control.get("cmd")
    if not isinstance(command, str) or command not in CONTROLS:
        raise ValueError("bad control field 'cmd': %.40r, expected one of %s"
                         % (command, " ".join(sorted(CONTROLS))))
    spec = CONTROLS[command]
    if command == "primer" and control.get("tokens") is not None:
        for event in protocol.check("control", "tokens", control["tokens"], protocol.TEXT).split():
            protocol.parse_event(event)
    elif spec and (command != "primer" or control.get("name") is not None):
        name, kind, low, high = spec
        protocol.check("control", name, control.get(name), kind, low, high)
    return control


def _argument(text, spec):
    name, kind = spec[:2]
    if kind is protocol.TEXT:
        return text
    try:
        return (int if kind is protocol.INT else float)(text)
    except ValueError:
        raise ValueError("bad control field %r: %.40r is not a number" % (name, text)) from None
