"""API parity: the simulator's fakes offer only what the ESP32 port offers (micropython-esp32-stubs).

For every fake module in simulator/fakes/ that has a stub (machine, network, esp32, dht, onewire,
ds18x20, ntptime, micropython), both files are parsed with `ast` (nothing is imported) and:

- every public class, function, method, class attribute and module constant the fake defines
  must exist in the stub (a class's members are looked up through its stub base classes too);
  public means not starting with "_"; names a fake only imports are not checked;
- a function must stay a function and a class a class; a constant whose stub value is a literal
  must have that value;
- every function and method (also __init__ and __call__) must accept every call the stub allows:
  each overload, each number of positional arguments, with and without its optional keywords;
  it must not require what the stub makes optional, and must not add parameters, *args or
  **kwargs no overload has, nor accept positionally what the stub takes by keyword only.
  Stub parameters before "/" may have any name in the fake (MicroPython cannot parse "/"),
  and a stub overload made only of *args/**kwargs says nothing, so it is not checked;
- an instance attribute (self.x = ...) must not hide a method of the stub.

The stubs are written from the port-independent docs and are wrong for the ESP32 port in places
(Pin takes hold=, not alt=; ADC has no sample_ns). PORT_SIGNATURES below replaces the stub's
signature of such a function with the port's, each entry citing the C source it was read from;
messages then say "port" instead of "stub".

Simulator-only names: a fake that needs public names of its own (test hooks, simulated devices)
lists them in a module-level tuple, which is exempt itself:

    SIMULATOR_ONLY = ("BME280", "Pin.simulate_edge")

"Class.member" exempts one member; listing a class exempts its members. A listed name must be
defined by the fake and must not be in the stub (then it is an API and is checked as one).
"""

import ast
import importlib.metadata
import os
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKES = os.path.join(ROOT, "simulator", "fakes")
MODULES = ("machine", "network", "esp32", "dht", "onewire", "ds18x20", "ntptime", "micropython")
STUBS_DIST = "micropython-esp32-stubs"
MARKER = "SIMULATOR_ONLY"
CHECKED_DUNDERS = ("__init__", "__call__")  # their signatures are API, unlike __repr__ & co.

# Where the stubs (written from the port-independent docs) disagree with the ESP32 port's C code,
# the port wins: qualified name -> its signatures (self left out), each from the cited source of
# micropython/micropython. A name the stubs lack altogether (the port has it on other ESP32
# chips) is a function of the port with that signature. Add an entry only with a citation.
PORT_SIGNATURES = {
    # ports/esp32/machine_pin.c: mp_pin_make_new, machine_pin_obj_init_helper (hold, no alt)
    "machine.Pin.__init__": ("(id, /, mode=None, pull=-1, *, value=None, drive=None, hold=None)",),
    "machine.Pin.init": ("(mode=None, pull=-1, *, value=None, drive=None, hold=None)",),
    # ports/esp32/machine_pin.c: machine_pin_irq (no priority, no hard; all positional or keyword)
    "machine.Pin.irq": ("(handler=None, trigger=3, wake=None)",),
    # ports/esp32/machine_adc.c: madc_make_new, madc_init_helper (atten only, no sample_ns)
    "machine.ADC.__init__": ("(id, /, *, atten=-1)",),
    "machine.ADC.init": ("(*, atten=-1)",),
    # extmod/machine_wdt.c: machine_wdt_make_new (id and timeout also positional)
    "machine.WDT.__init__": ("(id=0, timeout=5000)",),
    # ports/esp32/machine_rtc.c: machine_rtc_init is MP_DEFINE_CONST_FUN_OBJ_2 (datetime required)
    "machine.RTC.init": ("(datetime, /)",),
    # ports/esp32/machine_pwm.c: mp_machine_pwm_make_new (dest and freq positional),
    # mp_machine_pwm_init_helper (duty kept for compatibility, lightsleep)
    "machine.PWM.__init__": (
        "(dest, /, freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False, lightsleep=False)",
    ),
    "machine.PWM.init": ("(freq=-1, *, duty=-1, duty_u16=-1, duty_ns=-1, invert=False, lightsleep=False)",),
    # ports/esp32/esp32_partition.c: esp32_partition_ioctl is MP_DEFINE_CONST_FUN_OBJ_3 (arg required)
    "esp32.Partition.ioctl": ("(cmd, arg, /)",),
    # Not on the ESP32 the stubs describe, but on the port's ESP32-S2/S3/C3/C6 builds (docs/library/
    # esp32.rst: mcu_temperature, "availability: ESP32-S2, ESP32-S3, ESP32-C3, ESP32-C6"):
    "esp32.mcu_temperature": ("()",),
}


# ---- reading stubs and fakes ------------------------------------------------------------------


def stub_path(module):
    """Path of the module's .pyi in the installed micropython-esp32-stubs, or None."""
    try:
        dist = importlib.metadata.distribution(STUBS_DIST)
        path = str(dist.locate_file(module + ".pyi"))
    except importlib.metadata.PackageNotFoundError:
        path = os.path.join(sysconfig.get_paths()["purelib"], module + ".pyi")
    return path if os.path.isfile(path) else None


def stub_source(module):
    path = stub_path(module)
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


class Sig:
    """One way to call a function, self/cls left out: (name, optional) pairs per kind."""

    def __init__(self, positional, n_posonly, vararg, kwonly, varkw):
        self.positional = positional  # positional-only ones first
        self.n_posonly = n_posonly
        self.vararg = vararg  # name of *args, or None
        self.kwonly = kwonly
        self.varkw = varkw  # name of **kwargs, or None

    def opaque(self):
        """Only *args/**kwargs: the stub does not say how to call it."""
        return not self.positional and not self.kwonly and bool(self.vararg or self.varkw)

    def keyword_names(self):
        return [n for n, _ in self.positional[self.n_posonly :]] + [n for n, _ in self.kwonly]

    def __str__(self):
        parts = []
        for i, (name, opt) in enumerate(self.positional):
            parts.append(name + ("=…" if opt else ""))
            if i + 1 == self.n_posonly:
                parts.append("/")
        if self.vararg:
            parts.append("*" + self.vararg)
        elif self.kwonly:
            parts.append("*")
        parts += [name + ("=…" if opt else "") for name, opt in self.kwonly]
        if self.varkw:
            parts.append("**" + self.varkw)
        return "(" + ", ".join(parts) + ")"


class Entry:
    """A name defined in a stub or a fake: kind is function, class, value or import."""

    def __init__(self, kind, line):
        self.kind = kind
        self.line = line
        self.sigs = []  # function: one Sig per overload (or per redefinition)
        self.members = {}  # class: name -> Entry
        self.bases = []  # class: base names as written ("Pin", "machine.Pin")
        self.value = None  # value: (literal,) when known
        self.instance_attrs = {}  # fake class: public self.x assignments -> line


def _decorators(fn):
    names = set()
    for d in fn.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        names.add(d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", ""))
    return names


def _sig(fn, in_class):
    a = fn.args
    params = a.posonlyargs + a.args
    first_default = len(params) - len(a.defaults)
    positional = [(p.arg, i >= first_default) for i, p in enumerate(params)]
    n_posonly = len(a.posonlyargs)
    if in_class and "staticmethod" not in _decorators(fn) and positional:
        positional = positional[1:]  # self or cls
        n_posonly = max(0, n_posonly - 1)
    kwonly = [(p.arg, d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    return Sig(
        positional,
        n_posonly,
        a.vararg.arg if a.vararg else None,
        kwonly,
        a.kwarg.arg if a.kwarg else None,
    )


def _literal(node):
    """(value,) for a literal (also const(literal)); None when not a literal or `...`."""
    if node is None:
        return None
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "const" and len(node.args) == 1:
        node = node.args[0]
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return None if value is Ellipsis else (value,)


def _targets(node):
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    for t in targets:
        for n in ast.walk(t) if isinstance(t, ast.Tuple | ast.List) else [t]:
            if isinstance(n, ast.Name):
                yield n.id


def _define(scope, name, kind, line):
    entry = scope.get(name)
    if entry is None or (entry.kind in ("value", "import") and kind in ("function", "class")):
        entry = scope[name] = Entry(kind, line)
    return entry


def _collect(body, scope, in_class):
    """Fill scope (name -> Entry) from the statements of a module or class body."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            entry = _define(scope, node.name, "function", node.lineno)
            if entry.kind == "function":
                entry.sigs.append(_sig(node, in_class))
                if in_class:
                    _collect_instance_attrs(node, entry)
        elif isinstance(node, ast.ClassDef):
            entry = _define(scope, node.name, "class", node.lineno)
            if entry.kind == "class":  # a class defined twice: the members of both
                entry.bases += [ast.unparse(b) for b in node.bases]
                _collect(node.body, entry.members, True)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for name in _targets(node):
                entry = _define(scope, name, "value", node.lineno)
                if entry.kind == "value" and entry.value is None:
                    entry.value = _literal(node.value)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            for alias in node.names:
                name = alias.asname or alias.name.split(".")[0]
                # In a stub, "from m import x as x" re-exports x (PEP 484); elsewhere it is a use.
                _define(scope, name, "import" if alias.asname != alias.name else "reexport", node.lineno)
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                _collect(getattr(node, block, []), scope, in_class)
            for handler in getattr(node, "handlers", []):
                _collect(handler.body, scope, in_class)


def _collect_instance_attrs(fn, method_entry):
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and getattr(t.value, "id", "") == "self":
                    method_entry.instance_attrs.setdefault(t.attr, (fn.name, node.lineno))


def parse_signature(text):
    """A Sig from "(a, b=1, *, c)" (self left out), as PORT_SIGNATURES writes them."""
    return _sig(ast.parse("def f%s: pass" % text).body[0], False)


def parse(source):
    """name -> Entry for a module's source."""
    scope = {}
    _collect(ast.parse(source).body, scope, False)
    return scope


# ---- comparing a fake with its stub -----------------------------------------------------------


def _public(name):
    return not name.startswith("_")


class Stubs:
    """The stub modules, parsed on demand (base classes may live in another stub)."""

    def __init__(self, load):
        self._load = load
        self._parsed = {}

    def module(self, name):
        if name not in self._parsed:
            source = self._load(name)
            self._parsed[name] = parse(source) if source is not None else {}
        return self._parsed[name]

    def member(self, module, cls, name, seen=None):
        """The Entry of name in the stub class cls or its bases; None if none has it."""
        if name in cls.members:
            return cls.members[name]
        seen = seen if seen is not None else set()
        for base in cls.bases:
            mod, _, base_name = base.rpartition(".")
            where = mod or module
            entry = self.module(where).get(base_name)
            if entry is not None and entry.kind in ("import", "reexport") and not mod:
                where = self._imported_from(module, base_name) or where
                entry = self.module(where).get(base_name)
            if entry is None or entry.kind != "class" or (where, base_name) in seen:
                continue
            seen.add((where, base_name))
            found = self.member(where, entry, name, seen)
            if found is not None:
                return found
        return None

    def _imported_from(self, module, name):
        source = self._load(module) or ""
        for node in ast.parse(source).body:
            if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                return node.module
        return None


def check_signature(qual, stub_sigs, fake, source="stub"):
    """Mismatches between a fake's signature and the stub's overloads, one message each.

    source names where stub_sigs come from in the messages ("stub", or "port" for PORT_SIGNATURES).
    """
    sigs = [s for s in stub_sigs if not s.opaque()]
    if not sigs:
        return []
    short = qual.rsplit(".", 1)[-1]
    problems, seen = [], set()

    def add(text, stub=None):
        if text not in seen:
            seen.add(text)
            shown = " | ".join(dict.fromkeys(short + str(s) for s in ([stub] if stub is not None else sigs)))
            problems.append("%s: %s (%s: %s; fake: %s%s)" % (qual, text, source, shown, short, fake))

    fake_optional = dict(fake.positional + fake.kwonly)
    fake_keywords = set(fake.keyword_names())
    kw_ok = fake_keywords.__contains__ if not fake.varkw else (lambda name: True)
    stub_names = {n for s in sigs for n, _ in s.positional + s.kwonly}
    stub_width = max(len(s.positional) for s in sigs)

    # 1. Every call some overload allows must bind to the fake, to the same parameters.
    for s in sigs:
        for i, (name, optional) in enumerate(s.positional):
            posonly = i < s.n_posonly
            if i < len(fake.positional):
                fname, foptional = fake.positional[i]
                if not posonly and fname != name:
                    add("parameter %d is '%s' in the %s, '%s' in the fake" % (i + 1, name, source, fname), s)
                    continue
                if not posonly and i < fake.n_posonly:
                    add("takes '%s' only positionally, the %s also by keyword" % (name, source), s)
                if optional and not foptional:
                    add("requires '%s', which the %s makes optional" % (fname, source), s)
            elif fake.vararg:
                if not posonly and not kw_ok(name):
                    add("has no parameter '%s'" % name, s)
            elif posonly:
                add(
                    "accepts at most %d positional argument(s), the %s up to %d"
                    % (len(fake.positional), source, stub_width)
                )
            elif name in fake_keywords:
                add("takes '%s' only by keyword, the %s also positionally" % (name, source), s)
            else:
                add("has no parameter '%s'" % name, s)
        for name, optional in s.kwonly:
            if name in fake_keywords:
                if optional and not fake_optional[name]:
                    add("requires '%s', which the %s makes optional" % (name, source), s)
            elif not fake.varkw:
                add("has no parameter '%s'" % name, s)
        # What the fake requires, this overload must always pass.
        s_required_kw = {n for n, opt in s.kwonly if not opt}
        for j, (fname, foptional) in enumerate(fake.positional):
            if foptional or j < len(s.positional) or fname in s_required_kw or fname in dict(s.kwonly):
                continue
            if fname in stub_names or j < stub_width:
                add("requires '%s', which the %s makes optional" % (fname, source), s)
        for fname, foptional in fake.kwonly:
            if foptional or fname in s_required_kw or fname in dict(s.kwonly):
                continue
            if fname in stub_names:
                add("requires '%s', which the %s makes optional" % (fname, source), s)

    # 2. The fake accepts nothing no overload allows.
    for i, (name, _) in enumerate(fake.positional):
        if i < stub_width or any(s.vararg for s in sigs):
            continue
        if any(name in dict(s.kwonly) for s in sigs):
            add("accepts '%s' as positional parameter %d, the %s only by keyword" % (name, i + 1, source))
        elif name not in stub_names:
            add("has parameter '%s', which is not in the %s" % (name, source))
        else:
            add("accepts %d positional argument(s), the %s at most %d" % (i + 1, source, stub_width))
    for name, _ in fake.kwonly:
        if not any(name in s.keyword_names() or s.varkw for s in sigs):
            add("has parameter '%s', which is not in the %s" % (name, source))
    if fake.vararg and not any(s.vararg for s in sigs):
        add("takes *%s, which the %s does not (name the parameters instead)" % (fake.vararg, source))
    if fake.varkw and not any(s.varkw for s in sigs):
        add("takes **%s, which the %s does not (name the parameters instead)" % (fake.varkw, source))
    return problems


def _fake_lookup(fake, path):
    entry, scope = None, fake
    for part in path:
        entry = scope.get(part) if scope is not None else None
        scope = entry.members if entry is not None and entry.kind == "class" else None
    return entry


def _stub_lookup(stubs, module, path):
    entry = _stub_get(stubs.module(module), path[0])
    for part in path[1:]:
        if entry is None or entry.kind != "class":
            return None
        entry = stubs.member(module, entry, part)
    return entry


def _stub_get(stub, name):
    """A stub's module-level name; a plain import is not an export (PEP 484)."""
    entry = stub.get(name)
    return None if entry is None or entry.kind == "import" else entry


def _port_only(qual, port_signatures):
    """An Entry for a function the port has but the stubs lack (listed in PORT_SIGNATURES), or None."""
    if qual not in port_signatures:
        return None
    entry = Entry("function", 0)
    entry.sigs = [parse_signature(t) for t in port_signatures[qual]]
    return entry


def _marker(source):
    """The SIMULATOR_ONLY names of a fake's source, and a problem if the tuple is malformed."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and MARKER in _targets(node):
            try:
                names = ast.literal_eval(node.value)
            except ValueError:
                return set(), "%s must be a literal tuple of strings" % MARKER
            if not isinstance(names, tuple | list) or not all(isinstance(n, str) for n in names):
                return set(), "%s must be a literal tuple of strings" % MARKER
            return set(names), None
    return set(), None


def check_module(module, stub_src, fake_src, load_stub=None, port_signatures=None):
    """Every mismatch between a fake module's source and its stub's, one message each.

    load_stub(name) gives another stub module's source (for base classes); port_signatures maps
    qualified names to signatures that replace the stub's (see PORT_SIGNATURES).
    """
    port_signatures = port_signatures or {}
    stubs = Stubs(lambda name: stub_src if name == module else (load_stub(name) if load_stub else None))
    stub = stubs.module(module)
    fake = parse(fake_src)
    sim_only, bad_marker = _marker(fake_src)
    problems = ["%s.%s: %s" % (module, MARKER, bad_marker)] if bad_marker else []

    for dotted in sorted(sim_only):
        path = dotted.split(".")
        if _fake_lookup(fake, path) is None:
            problems.append("%s.%s: listed in %s but not defined by the fake" % (module, dotted, MARKER))
        elif _stub_lookup(stubs, module, path) is not None:
            problems.append(
                "%s.%s: listed in %s but the stub has it: remove it from %s so it is checked"
                % (module, dotted, MARKER, MARKER)
            )

    def compare(qual, dotted, fake_entry, stub_entry, stub_owner):
        fk, sk = fake_entry.kind, stub_entry.kind
        where = " (line %d)" % fake_entry.line
        if sk in ("import", "reexport"):
            return  # the stub only says the name exists
        if fk == "function" and sk == "function":
            if qual in port_signatures:
                sigs = [parse_signature(t) for t in port_signatures[qual]]
                problems.extend(check_signature(qual, sigs, fake_entry.sigs[-1], "port"))
            else:
                problems.extend(check_signature(qual, stub_entry.sigs, fake_entry.sigs[-1]))
        elif fk == "class" and sk == "class":
            check_class(qual, dotted, fake_entry, stub_entry, stub_owner)
        elif fk in ("function", "class") and sk in ("function", "class"):
            problems.append("%s: a %s in the stub, a %s in the fake%s" % (qual, sk, fk, where))
        elif fk in ("function", "class") and stub_entry.value is not None:
            problems.append("%s: a constant in the stub, a %s in the fake%s" % (qual, fk, where))
        elif (
            fk == "value" and sk == "value" and stub_entry.value is not None and fake_entry.value is not None
        ):
            if fake_entry.value[0] != stub_entry.value[0]:
                problems.append(
                    "%s: %r in the fake, %r in the stub%s"
                    % (qual, fake_entry.value[0], stub_entry.value[0], where)
                )

    def check_class(qual, dotted, fake_cls, stub_cls, stub_owner):
        for name, entry in fake_cls.members.items():
            sub = dotted + "." + name
            if entry.kind in ("import", "reexport") or sub in sim_only:
                continue
            stub_entry = stubs.member(stub_owner, stub_cls, name) or _port_only(
                qual + "." + name, port_signatures
            )
            if name in CHECKED_DUNDERS:
                if stub_entry is not None and entry.kind == "function":
                    compare(qual + "." + name, sub, entry, stub_entry, stub_owner)
                continue
            if not _public(name):
                continue
            if stub_entry is None:
                problems.append("%s.%s: not in the stub (line %d)" % (qual, name, entry.line))
            else:
                compare(qual + "." + name, sub, entry, stub_entry, stub_owner)
        for method in fake_cls.members.values():
            for attr, (in_method, line) in method.instance_attrs.items():
                target = stubs.member(stub_owner, stub_cls, attr) if _public(attr) else None
                if target is not None and target.kind == "function":
                    problems.append(
                        "%s.%s: self.%s set in %s() (line %d) hides the stub's method %s()"
                        % (qual, attr, attr, in_method, line, attr)
                    )

    for name, entry in fake.items():
        if not _public(name) or name == MARKER or name in sim_only or entry.kind in ("import", "reexport"):
            continue
        qual = module + "." + name
        stub_entry = _stub_get(stub, name) or _port_only(qual, port_signatures)
        if stub_entry is None:
            problems.append(
                "%s: not in the stub (line %d; list it in %s if only the simulator uses it)"
                % (qual, entry.line, MARKER)
            )
        else:
            compare(qual, name, entry, stub_entry, module)
    return problems


# ---- the checker proves itself on small stub/fake pairs ---------------------------------------

STUB = """
from typing import overload
from machine import Pin as Pin
LIMIT: Final[int] = 7
level: Incomplete
def known(a, b: int = 1) -> None: ...
@overload
def freq() -> int: ...
@overload
def freq(hz: int, /) -> None: ...
def loose(*args, **kwargs) -> Incomplete: ...
def connect(ssid: str | None = None, password: str | None = None, /, *, bssid: bytes | None = None): ...
def config(*, mac: bytes = ..., **kwargs) -> None: ...
class Base:
    def measure(self) -> None: ...
    def __init__(self, pin) -> None: ...
class Sensor(Base):
    MODE: Final[int] = 3
    def init(self, mode: int = -1, pull: int = -1, *, value: Any = None) -> None: ...
    @overload
    def value(self) -> int: ...
    @overload
    def value(self, x: Any, /) -> None: ...
    @staticmethod
    def make(kind: int) -> Sensor: ...
"""


def problems_of(fake_source):
    """The checker's messages without the signatures it appends, for short assertions."""
    return [p.split(" (stub: ")[0] for p in check_module("mod", STUB, fake_source)]


def test_a_fake_that_matches_its_stub_has_no_problems():
    fake = """
import os
from simboard import BOARD
LIMIT = 7
level = 0
_private = 1
def known(a, b=2):
    return a
def freq(hz=None):
    return 240
def loose(x, y=1, *rest, **kw):
    pass
def connect(ssid_any_name=None, password=None, *, bssid=None):
    pass
def config(**kwargs):
    pass
class Base:
    def __init__(self, pin):
        self.pin = pin
        self.level_log = []
    def measure(self):
        self._private_state = 1
class Sensor(Base):
    MODE = 3
    def init(self, mode=-1, pull=-1, *, value=None):
        pass
    def value(self, x=None):
        pass
    def measure(self):
        pass
    @staticmethod
    def make(kind):
        return Sensor(kind)
    def __repr__(self):
        return "Sensor()"
    def _helper(self, anything, *args, **kwargs):
        pass
"""
    assert check_module("mod", STUB, fake) == []


def test_a_function_missing_from_the_stub_is_reported():
    assert problems_of("def invented(x):\n    pass\n") == [
        "mod.invented: not in the stub (line 1; list it in SIMULATOR_ONLY if only the simulator uses it)"
    ]


def test_methods_constants_and_classes_missing_from_the_stub_are_reported():
    fake = "EXTRA = 1\nclass Gadget:\n    pass\n"
    fake += "class Sensor:\n    def blink(self):\n        pass\n    FAST = 2\n"
    assert problems_of(fake) == [
        "mod.EXTRA: not in the stub (line 1; list it in SIMULATOR_ONLY if only the simulator uses it)",
        "mod.Gadget: not in the stub (line 2; list it in SIMULATOR_ONLY if only the simulator uses it)",
        "mod.Sensor.blink: not in the stub (line 5)",
        "mod.Sensor.FAST: not in the stub (line 7)",
    ]


def test_a_missing_optional_parameter_is_reported_with_both_signatures():
    fake = "class Sensor:\n    def init(self, mode=-1, *, value=None):\n        pass\n"
    assert check_module("mod", STUB, fake) == [
        "mod.Sensor.init: has no parameter 'pull'"
        " (stub: init(mode=…, pull=…, *, value=…); fake: init(mode=…, *, value=…))"
    ]


def test_a_required_parameter_the_stub_makes_optional_is_reported():
    assert problems_of("def known(a, b):\n    pass\n") == [
        "mod.known: requires 'b', which the stub makes optional"
    ]
    fake = "class Sensor:\n    def init(self, mode=-1, pull=-1, *, value):\n        pass\n"
    assert problems_of(fake) == ["mod.Sensor.init: requires 'value', which the stub makes optional"]


def test_every_overload_must_be_callable_on_the_fake():
    assert problems_of("def freq():\n    pass\n") == [
        "mod.freq: accepts at most 0 positional argument(s), the stub up to 1"
    ]
    assert problems_of("def freq(hz):\n    pass\n") == [
        "mod.freq: requires 'hz', which the stub makes optional"
    ]
    assert problems_of("def freq(f=None):\n    pass\n") == []  # a positional-only name is free


def test_keyword_and_positional_kinds_must_match():
    fake = "class Sensor:\n    def init(self, mode=-1, pull=-1, value=None):\n        pass\n"
    assert problems_of(fake) == [
        "mod.Sensor.init: accepts 'value' as positional parameter 3, the stub only by keyword"
    ]
    fake = "class Sensor:\n    def init(self, mode=-1, *, pull=-1, value=None):\n        pass\n"
    assert problems_of(fake) == ["mod.Sensor.init: takes 'pull' only by keyword, the stub also positionally"]
    assert problems_of("def known(a, /, b=1):\n    pass\n") == [
        "mod.known: takes 'a' only positionally, the stub also by keyword"
    ]


def test_invented_parameters_and_catch_alls_are_reported():
    fake = "def known(a, b=1, c=2, *, d=3):\n    pass\ndef freq(*args, **kwargs):\n    pass\n"
    assert problems_of(fake) == [
        "mod.known: has parameter 'c', which is not in the stub",
        "mod.known: has parameter 'd', which is not in the stub",
        "mod.freq: takes *args, which the stub does not (name the parameters instead)",
        "mod.freq: takes **kwargs, which the stub does not (name the parameters instead)",
    ]


def test_a_renamed_or_reordered_parameter_is_reported():
    assert problems_of("def known(a, c=1):\n    pass\n") == [
        "mod.known: parameter 2 is 'b' in the stub, 'c' in the fake"
    ]
    fake = "class Sensor:\n    def init(self, pull=-1, mode=-1, *, value=None):\n        pass\n"
    assert problems_of(fake) == [
        "mod.Sensor.init: parameter 1 is 'mode' in the stub, 'pull' in the fake",
        "mod.Sensor.init: parameter 2 is 'pull' in the stub, 'mode' in the fake",
    ]


def test_inherited_stub_methods_and_init_signatures_are_checked():
    fake = "class Sensor:\n    def __init__(self, pin, extra):\n        pass\n"
    fake += "    def measure(self, now):\n        pass\n"
    assert problems_of(fake) == [
        "mod.Sensor.__init__: has parameter 'extra', which is not in the stub",
        "mod.Sensor.measure: has parameter 'now', which is not in the stub",
    ]


def test_wrong_kinds_values_and_hidden_methods_are_reported():
    fake = (
        "LIMIT = 8\nclass known:\n    pass\ndef Base():\n    pass\n"
        "class Sensor:\n    MODE = const(4)\n    def init(self, mode=-1, pull=-1, *, value=None):\n"
        "        self.value = value\n"
    )
    assert problems_of(fake) == [
        "mod.LIMIT: 8 in the fake, 7 in the stub (line 1)",
        "mod.known: a function in the stub, a class in the fake (line 2)",
        "mod.Base: a class in the stub, a function in the fake (line 4)",
        "mod.Sensor.MODE: 4 in the fake, 3 in the stub (line 7)",
        "mod.Sensor.value: self.value set in init() (line 9) hides the stub's method value()",
    ]


def test_names_a_stub_only_imports_are_not_its_api():
    stub = "from machine import Pin\nfrom micropython import const as const\n"
    fake = "class Pin:\n    pass\ndef const(x):\n    return x\n"
    assert [p.split(" (")[0] for p in check_module("mod", stub, fake)] == ["mod.Pin: not in the stub"]


def test_simulator_only_names_are_exempt_and_the_list_is_checked():
    fake = (
        'SIMULATOR_ONLY = ("World", "Sensor.simulate", "known", "ghost", "Sensor.MODE")\n'
        "class World:\n    def anything(self, *a, **k):\n        pass\n"
        "class Sensor:\n    MODE = 3\n    def simulate(self, level):\n        pass\n"
        "def known(a, b=1):\n    pass\n"
    )
    in_stub = ": listed in SIMULATOR_ONLY but the stub has it: remove it from SIMULATOR_ONLY so it is checked"
    assert problems_of(fake) == [
        "mod.Sensor.MODE" + in_stub,
        "mod.ghost: listed in SIMULATOR_ONLY but not defined by the fake",
        "mod.known" + in_stub,
    ]
    assert problems_of("SIMULATOR_ONLY = [1]\n") == [
        "mod.SIMULATOR_ONLY: SIMULATOR_ONLY must be a literal tuple of strings"
    ]


def test_base_classes_are_found_in_other_stub_modules():
    stubs = {"other": "class Pin:\n    def on(self) -> None: ...\n"}
    stub = "from other import Pin\nclass Signal(Pin):\n    def off(self) -> None: ...\n"
    fake = "class Signal:\n    def on(self):\n        pass\n    def off(self):\n        pass\n"
    assert check_module("mod", stub, fake, stubs.get) == []
    assert check_module("mod", stub, fake) == ["mod.Signal.on: not in the stub (line 2)"]


def test_port_signatures_replace_the_stubs_where_the_port_differs():
    fake = "class Sensor:\n    def init(self, mode=None, *, hold=None):\n        pass\n"
    assert len(problems_of(fake)) == 3  # by the stub: no 'pull', no 'value', 'hold' invented
    port = {"mod.Sensor.init": ("(mode=None, *, hold=None)",)}
    assert check_module("mod", STUB, fake, port_signatures=port) == []
    fake = "class Sensor:\n    def init(self, mode=None):\n        pass\n"
    assert check_module("mod", STUB, fake, port_signatures=port) == [
        "mod.Sensor.init: has no parameter 'hold' (port: init(mode=…, *, hold=…); fake: init(mode=…))"
    ]


def test_a_function_only_the_port_has_is_checked_against_its_port_signature():
    port = {"mod.mcu_temperature": ("()",)}
    assert check_module("mod", STUB, "def mcu_temperature():\n    pass\n", port_signatures=port) == []
    (problem,) = problems_of("def mcu_temperature():\n    pass\n")
    assert problem.startswith("mod.mcu_temperature: not in the stub"), problem
    assert check_module("mod", STUB, "def mcu_temperature(unit):\n    pass\n", port_signatures=port) == [
        "mod.mcu_temperature: has parameter 'unit', which is not in the port"
        " (port: mcu_temperature(); fake: mcu_temperature(unit))"
    ]


def test_every_port_signature_names_a_function_of_the_stubs():
    if stub_path("machine") is None:
        pytest.skip("%s is not installed (make setup)" % STUBS_DIST)
    stubs = Stubs(stub_source)
    for qual, texts in PORT_SIGNATURES.items():
        module, *path = qual.split(".")
        entry = _stub_lookup(stubs, module, path)
        if entry is None:  # a function of other chips: its class, if any, is in the stubs
            assert len(path) == 1 or _stub_lookup(stubs, module, path[:-1]) is not None, qual
        else:
            assert entry.kind == "function", qual
        for text in texts:
            parse_signature(text)


def test_the_real_stubs_parse_and_resolve():
    if stub_path("machine") is None:
        pytest.skip("%s is not installed (make setup)" % STUBS_DIST)
    stubs = Stubs(stub_source)
    machine = stubs.module("machine")
    assert {"Pin", "ADC", "WDT", "reset_cause", "PWRON_RESET"} <= set(machine)
    signal_off = stubs.member("machine", machine["Signal"], "init")  # Signal(Pin) inherits init
    assert signal_off is not None and signal_off.kind == "function"
    assert len(machine["Pin"].members["value"].sigs) == 2
    for name in MODULES:
        assert stub_source(name) is not None, name
        parse(stub_source(name))


# ---- the fakes in simulator/fakes/ ------------------------------------------------------------


@pytest.mark.parametrize("module", MODULES)
def test_fake_offers_only_what_the_esp32_port_offers(module):
    fake_file = os.path.join(FAKES, module + ".py")
    if not os.path.exists(fake_file):
        pytest.skip("simulator/fakes/%s.py does not exist yet" % module)
    stub_src = stub_source(module)
    if stub_src is None:
        pytest.skip("%s is not installed (make setup): no %s.pyi" % (STUBS_DIST, module))
    with open(fake_file, encoding="utf-8") as f:
        fake_src = f.read()
    problems = check_module(module, stub_src, fake_src, stub_source, PORT_SIGNATURES)
    assert not problems, "%d mismatch(es) between simulator/fakes/%s.py and %s:\n  %s" % (
        len(problems),
        module,
        STUBS_DIST,
        "\n  ".join(problems),
    )
