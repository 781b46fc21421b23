"""Reads a systemd unit file the way systemd does for our tests' purposes:
(section, key) -> [values], comments and blank lines dropped. Shared by the unit and
NixOS-module tests so both compare the same view of a unit."""


def parse_unit(text):
    out, section = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out
