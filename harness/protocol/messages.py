"""Every GB/T 32960.3 data unit of the 2016 and 2025 editions, declared once as data.

An edition difference is a branch in a builder below, never a second codec. Clause references use
the table numbers of the standard (2016: [S16]; 2025: [S25] transcription), see docs/fields.md.
Ranges are raw values; physical = raw * scale - offset.
"""

from __future__ import annotations

from functools import cache

from .schema import Count, InfoTypes, List, Node, Params, Raw, Scalar, Str, Struct, Switch, Time

EDITIONS = (2016, 2025)
START = {2016: b"##", 2025: b"$$"}
EDITION_OF_START = {b"##": 2016, b"$$": 2025}

COMMANDS = {
    0x01: "vehicle_login",
    0x02: "realtime",
    0x03: "reissue",
    0x04: "vehicle_logout",
    0x05: "platform_login",
    0x06: "platform_logout",
    0x07: "heartbeat",
    0x08: "time_sync",
    0x09: "activation",
    0x0A: "activation_result",
    0x0B: "key_exchange",
    0x80: "query",
    0x81: "set",
    0x82: "control",
}
COMMANDS_2025_ONLY = frozenset({0x09, 0x0A, 0x0B})

RESPONSE_FLAGS = {
    2016: {0x01: "success", 0x02: "error", 0x03: "vin_duplicate", 0xFE: "command"},
    2025: {
        0x01: "success",
        0x02: "other_error",
        0x03: "vin_duplicate",
        0x04: "vin_unknown",
        0x05: "signature_error",
        0x06: "structure_error",
        0x07: "decryption_error",
        0xFE: "command",
    },
}
ENCRYPTION = {
    2016: {0x01: "none", 0x02: "rsa", 0x03: "aes128", 0xFE: "abnormal", 0xFF: "invalid"},
    2025: {0x01: "none", 0x02: "rsa", 0x03: "aes", 0x04: "sm2", 0x05: "sm4", 0xFE: "abnormal", 0xFF: "invalid"},
}

ALARM_BITS_2016 = {
    0: "temperature_difference",
    1: "battery_high_temperature",
    2: "ress_over_voltage",
    3: "ress_under_voltage",
    4: "soc_low",
    5: "cell_over_voltage",
    6: "cell_under_voltage",
    7: "soc_too_high",
    8: "soc_jump",
    9: "ress_mismatch",
    10: "poor_cell_consistency",
    11: "insulation",
    12: "dcdc_temperature",
    13: "brake_system",
    14: "dcdc_state",
    15: "motor_controller_temperature",
    16: "hv_interlock",
    17: "motor_temperature",
    18: "ress_over_charge",
}
ALARM_BITS_2025 = {
    **ALARM_BITS_2016,
    5: "min_parallel_unit_over_voltage",
    6: "min_parallel_unit_under_voltage",
    10: "poor_min_parallel_unit_consistency",
    11: "insulation_resistance_failure",
    19: "motor_over_speed",
    20: "motor_over_current",
    21: "supercap_over_temperature",
    22: "supercap_over_voltage",
    23: "ress_thermal_event",
    24: "h2_leak",
    25: "h2_pressure_abnormal",
    26: "h2_temperature_abnormal",
    27: "fuel_cell_stack_over_temperature",
}
GEAR_BITS = {4: "braking_force", 5: "drive_force"}


def _temp(name: str, fmt: str = "B", **kw: object) -> Scalar:
    return Scalar(name, fmt, unit="°C", offset=40, lo=0, hi=250 if fmt == "B" else None, **kw)  # type: ignore[arg-type]


def _current(name: str, edition: int) -> Scalar:
    off = 1000 if edition == 2016 else 3000
    return Scalar(name, "H", unit="A", scale=0.1, offset=off, lo=0, hi=off * 20)


def _time_serial(name: str, clause: str) -> Struct:
    return Struct(name, (Time(), Scalar("serial", "H", lo=1, hi=65531)), clause=clause)


# ---------------------------------------------------------------- information types (0x02/0x03)


def vehicle(edition: int) -> Struct:
    fields: list[Node] = [
        Scalar("vehicle_state", enum={1: "started", 2: "off", 3: "other"}),
        Scalar("charge_state", enum={1: "parked_charging", 2: "driving_charging", 3: "not_charging",
                                     4: "charge_complete"}),
        Scalar("run_mode", enum={1: "ev", 2: "hybrid", 3: "fuel"}),
        Scalar("speed", "H", unit="km/h", scale=0.1, lo=0, hi=2200 if edition == 2016 else 5000),
        Scalar("odometer", "I", unit="km", scale=0.1, lo=0, hi=9999999),
        Scalar("total_voltage", "H", unit="V", scale=0.1, lo=0, hi=10000 if edition == 2016 else 60000),
        _current("total_current", edition),
        Scalar("soc", unit="%", lo=0, hi=100),
        Scalar("dcdc_state", enum={1: "working", 2: "off"}),
        Scalar("gear", bits=GEAR_BITS, doc="A.1: bits3-0 gear (0 N, 1-6, 13 R, 14 D, 15 P)"
               + ("; bit7=1 gear invalid" if edition == 2025 else ""), sentinels=False),
        Scalar("insulation_resistance", "H", unit="kΩ", lo=0, hi=60000, sentinels=edition == 2025),
    ]
    if edition == 2016:
        fields += [
            Scalar("accelerator_pedal", unit="%", lo=0, hi=100, doc="Annex B; main body reserves this byte"),
            Scalar("brake_pedal", unit="%", lo=0, hi=101, doc="Annex B; 101 = braking, no travel value"),
        ]
    return Struct("vehicle", tuple(fields), clause="2016 T9/T B.4" if edition == 2016 else "2025 T10")


def drive_motors(edition: int) -> Struct:
    if edition == 2016:
        motor = Struct("motor", (
            Scalar("seq", lo=1, hi=253),
            Scalar("state", enum={1: "consuming", 2: "generating", 3: "off", 4: "ready"}),
            _temp("controller_temperature"),
            Scalar("speed", "H", unit="r/min", offset=20000, lo=0, hi=65531),
            Scalar("torque", "H", unit="N·m", scale=0.1, offset=2000, lo=0, hi=65531),
            _temp("temperature"),
            Scalar("controller_input_voltage", "H", unit="V", scale=0.1, lo=0, hi=60000),
            _current("controller_dc_current", 2016),
        ))
    else:
        motor = Struct("motor", (
            Scalar("seq", lo=1, hi=253),
            Scalar("state", enum={1: "consuming", 2: "generating", 3: "off", 4: "ready"}),
            _temp("controller_temperature"),
            Scalar("speed", "H", unit="r/min", offset=32000, lo=0, hi=65531),
            Scalar("torque", "I", unit="N·m", scale=0.1, offset=20000, lo=0, hi=400000),
            _temp("temperature"),
        ))
    return Struct("drive_motors", (Count("count", lo=1, hi=253), List("motors", motor, "count")),
                  clause="2016 T10/T11" if edition == 2016 else "2025 T11/T12")


def fuel_cell(edition: int) -> Struct:
    if edition == 2016:
        return Struct("fuel_cell", (
            Scalar("voltage", "H", unit="V", scale=0.1, lo=0, hi=20000),
            Scalar("current", "H", unit="A", scale=0.1, lo=0, hi=20000),
            Scalar("consumption", "H", unit="kg/100km", scale=0.01, lo=0, hi=60000),
            Count("probe_count", "H", lo=0, hi=65531),
            List("probe_temperatures", Scalar("t", unit="°C", offset=40, lo=0, hi=240), "probe_count"),
            Scalar("h2_max_temperature", "H", unit="°C", scale=0.1, offset=40, lo=0, hi=2400),
            Scalar("h2_max_temperature_probe", lo=1, hi=252),
            Scalar("h2_max_concentration", "H", unit="mg/kg", lo=0, hi=60000),
            Scalar("h2_max_concentration_sensor"),
            Scalar("h2_max_pressure", "H", unit="MPa", scale=0.1, lo=0, hi=1000),
            Scalar("h2_max_pressure_sensor"),
            Scalar("hv_dcdc_state", enum={1: "working", 2: "off"}),
        ), clause="2016 T12")
    return Struct("fuel_cell", (
        Scalar("h2_max_temperature", "H", unit="°C", offset=40, lo=0, hi=240),
        Scalar("h2_max_temperature_probe", lo=1, hi=253),
        Scalar("h2_max_concentration", "H", unit="%", scale=0.0001, lo=0, hi=60000),
        Scalar("h2_max_concentration_sensor"),
        Scalar("h2_max_pressure", "H", unit="MPa", scale=0.1, lo=0, hi=1000),
        Scalar("h2_max_pressure_sensor"),
        Scalar("hv_dcdc_state", enum={1: "working", 2: "off"}),
        Scalar("h2_remaining", unit="%", lo=0, hi=100),
        _temp("dcdc_controller_temperature"),
    ), clause="2025 T13")


def engine(edition: int) -> Struct:
    speed = Scalar("crankshaft_speed", "H", unit="r/min", lo=0, hi=60000)
    if edition == 2025:
        return Struct("engine", (speed,), clause="2025 T14")
    return Struct("engine", (
        Scalar("state", enum={1: "on", 2: "off"}),
        speed,
        Scalar("fuel_consumption", "H", unit="L/100km", scale=0.01, lo=0, hi=60000),
    ), clause="2016 T13")


def position(edition: int) -> Struct:
    fields: list[Node] = [Scalar("status", bits={0: "invalid_fix", 1: "south", 2: "west"}, sentinels=False)]
    if edition == 2025:
        fields.append(Scalar("datum", enum={1: "wgs84", 2: "gcj02", 3: "other"}))
    fields += [
        Scalar("longitude", "I", unit="°", scale=0.000001, lo=0, hi=180000000),
        Scalar("latitude", "I", unit="°", scale=0.000001, lo=0, hi=90000000),
    ]
    return Struct("position", tuple(fields), clause="2016 T14/T15" if edition == 2016 else "2025 T15")


def extremes_2016() -> Struct:
    def cell(prefix: str) -> tuple[Node, ...]:
        return (
            Scalar(f"{prefix}_voltage_subsystem", lo=1, hi=250),
            Scalar(f"{prefix}_voltage_cell", lo=1, hi=250),
            Scalar(f"{prefix}_cell_voltage", "H", unit="V", scale=0.001, lo=0, hi=15000),
        )

    def probe(prefix: str) -> tuple[Node, ...]:
        return (
            Scalar(f"{prefix}_temperature_subsystem", lo=1, hi=250),
            Scalar(f"{prefix}_temperature_probe", lo=1, hi=250),
            _temp(f"{prefix}_temperature"),
        )

    return Struct("extremes", cell("max") + cell("min") + probe("max") + probe("min"), clause="2016 T16")


def _codes(name: str, edition: int) -> tuple[Node, ...]:
    count = Count(f"{name}_count", lo=0, hi=252 if edition == 2016 else 253)
    return (count, List(f"{name}_codes", Scalar("code", "I"), f"{name}_count"))


def alarm(edition: int) -> Struct:
    fields: list[Node] = [
        Scalar("max_level", lo=0, hi=3 if edition == 2016 else 4),
        Scalar("flags", "I", bits=ALARM_BITS_2016 if edition == 2016 else ALARM_BITS_2025, sentinels=False),
        *_codes("ress_fault", edition),
        *_codes("motor_fault", edition),
        *_codes("engine_fault", edition),
        *_codes("other_fault", edition),
    ]
    if edition == 2025:
        fields += [
            Count("general_level_count", lo=0, hi=253),
            List("general_levels", Struct("general_level", (Scalar("bit", lo=0, hi=31), Scalar("level", lo=0, hi=4))),
                 "general_level_count", doc="N5 list: level of each set general alarm bit"),
        ]
    return Struct("alarm", tuple(fields), clause="2016 T17/T18" if edition == 2016 else "2025 T16/T17")


def _cells(count: str) -> List:
    return List("cell_voltages", Scalar("v", "H", unit="V", scale=0.001, lo=0, hi=60000), count)


def ress_voltage(edition: int) -> Struct:
    if edition == 2016:
        sub = Struct("subsystem", (
            Scalar("no", lo=1, hi=250),
            Scalar("voltage", "H", unit="V", scale=0.1, lo=0, hi=10000),
            _current("current", 2016),
            Scalar("total_cells", "H", lo=1, hi=65531),
            Scalar("first_cell", "H", lo=1, hi=65531),
            Count("frame_cells", lo=1, hi=200),
            _cells("frame_cells"),
        ))
        return Struct("ress_voltage", (Count("count", lo=1, hi=250), List("subsystems", sub, "count")),
                      clause="2016 T B.5/B.6")
    pack = Struct("pack", (
        Scalar("no", lo=1, hi=50),
        Scalar("voltage", "H", unit="V", scale=0.1, lo=0, hi=60000),
        _current("current", 2025),
        Count("cell_count", "H", lo=1, hi=65531),
        _cells("cell_count"),
    ))
    return Struct("min_parallel_unit_voltage", (Count("count", lo=0, hi=50), List("packs", pack, "count")),
                  clause="2025 T20/T21")


def ress_temperature(edition: int) -> Struct:
    sub = Struct("subsystem", (
        Scalar("no", lo=1, hi=250 if edition == 2016 else 50),
        Count("probe_count", "H", lo=1, hi=65531),
        List("temperatures", _temp("t"), "probe_count"),
    ))
    name = "ress_temperature" if edition == 2016 else "battery_temperature"
    return Struct(name, (Count("count", lo=0, hi=250 if edition == 2016 else 50), List("subsystems", sub, "count")),
                  clause="2016 T B.7/B.8" if edition == 2016 else "2025 T22/T23")


def fuel_cell_stacks() -> Struct:
    stack = Struct("stack", (
        Scalar("no", lo=1, hi=253),
        Scalar("voltage", "H", unit="V", scale=0.1, lo=0, hi=20000),
        Scalar("current", "H", unit="A", scale=0.1, lo=0, hi=20000),
        Scalar("h2_inlet_pressure", "H", unit="kPa", scale=0.1, offset=100, lo=0, hi=5000),
        Scalar("air_inlet_pressure", "H", unit="kPa", scale=0.1, offset=100, lo=0, hi=5000),
        _temp("air_inlet_temperature"),
        Count("probe_count", "H", lo=0, hi=65531),
        List("coolant_outlet_temperatures", _temp("t"), "probe_count"),
    ))
    return Struct("fuel_cell_stacks", (Count("count", lo=1, hi=253), List("stacks", stack, "count")),
                  clause="2025 T18/T19")


def supercap() -> Struct:
    return Struct("supercap", (
        Scalar("system_no", lo=1, hi=253),
        Scalar("total_voltage", "H", unit="V", scale=0.1, lo=0, hi=60000),
        _current("total_current", 2025),
        Count("cell_count", "H", lo=1, hi=65531),
        _cells("cell_count"),
        Count("probe_count", "H", lo=1, hi=65531),
        List("temperatures", _temp("t"), "probe_count"),
    ), clause="2025 T25")


def supercap_extremes() -> Struct:
    # [S25] T26 gives 22 bytes; every codec ([SUN], [EMQX]) agrees on this 18-byte layout.
    def volt(prefix: str) -> tuple[Node, ...]:
        return (Scalar(f"{prefix}_voltage_system"), Scalar(f"{prefix}_voltage_cell", "H"),
                Scalar(f"{prefix}_cell_voltage", "H", unit="V", scale=0.001, lo=0, hi=60000))

    def temp(prefix: str) -> tuple[Node, ...]:
        return (Scalar(f"{prefix}_temperature_system"), Scalar(f"{prefix}_temperature_probe", "H"),
                _temp(f"{prefix}_temperature"))

    return Struct("supercap_extremes", volt("max") + volt("min") + temp("max") + temp("min"), clause="2025 T26")


def signature_block() -> Struct:
    """2025: signature type, R and S (RSA puts the whole signature in R with S empty)."""
    return Struct("signature", (
        Scalar("algorithm", enum={1: "sm2", 2: "rsa", 3: "ecc"}),
        Count("r_length", "H"),
        Raw("r", length_ref="r_length"),
        Count("s_length", "H"),
        Raw("s", length_ref="s_length"),
    ), clause="2025 T7/T8")


@cache
def info_types(edition: int) -> InfoTypes:
    if edition == 2016:
        known = {
            0x01: vehicle(2016), 0x02: drive_motors(2016), 0x03: fuel_cell(2016), 0x04: engine(2016),
            0x05: position(2016), 0x06: extremes_2016(), 0x07: alarm(2016), 0x08: ress_voltage(2016),
            0x09: ress_temperature(2016),
        }
        return InfoTypes("items", known, custom=range(0x80, 0xFF))
    known = {
        0x01: vehicle(2025), 0x02: drive_motors(2025), 0x03: fuel_cell(2025), 0x04: engine(2025),
        0x05: position(2025), 0x06: alarm(2025), 0x07: ress_voltage(2025), 0x08: ress_temperature(2025),
        0x30: fuel_cell_stacks(), 0x31: supercap(), 0x32: supercap_extremes(),
    }
    return InfoTypes("items", known, custom=range(0x80, 0xFF), signature_code=0xFF, signature=signature_block())


# ---------------------------------------------------------------- parameters (0x80/0x81)


@cache
def parameters(edition: int) -> dict[int, Node]:
    period_fmt = "H" if edition == 2016 else "B"
    return {
        0x01: Scalar("storage_period", "H", unit="ms", lo=0, hi=60000),
        0x02: Scalar("report_period", period_fmt, unit="s", lo=1, hi=600 if edition == 2016 else 30),
        0x03: Scalar("alarm_report_period", period_fmt, unit="ms" if edition == 2016 else "s",
                     lo=0, hi=60000 if edition == 2016 else 1),
        0x04: Scalar("platform_domain_length"),
        0x05: Str("platform_domain", length_ref="platform_domain_length"),
        0x06: Scalar("platform_port", "H", lo=0, hi=65531),
        0x07: Str("hardware_version", 5),
        0x08: Str("firmware_version", 5),
        0x09: Scalar("heartbeat_period", unit="s", lo=1, hi=240),
        0x0A: Scalar("terminal_response_timeout", "H", unit="s", lo=1, hi=600),
        0x0B: Scalar("platform_response_timeout", "H", unit="s", lo=1, hi=600),
        0x0C: Scalar("login_retry_interval", unit="min", lo=1, hi=240),
        0x0D: Scalar("public_platform_domain_length"),
        0x0E: Str("public_platform_domain", length_ref="public_platform_domain_length"),
        0x0F: Scalar("public_platform_port", "H", lo=0, hi=65531),
        0x10: Scalar("sampling_monitoring", enum={1: "yes", 2: "no"}),
    }


PARAM_LENGTH_OF = {0x04: 0x05, 0x0D: 0x0E}
READ_ONLY_PARAMS = frozenset({0x07, 0x08})

CONTROL_COMMANDS = {
    0x01: "remote_upgrade",
    0x02: "power_off",
    0x03: "reset",
    0x04: "factory_reset",
    0x05: "disconnect",
    0x06: "alarm_warning",
    0x07: "open_sampling_link",
}
UPGRADE_FIELDS = ("apn", "dial_user", "dial_password", "address", "port", "maker_id", "hardware_version",
                  "firmware_version", "url", "connect_deadline_min")


def _param_list(edition: int, clause: str, name: str) -> Struct:
    return Struct(name, (
        Time(), Count("count", lo=0, hi=252),
        Params("params", parameters(edition), "count", PARAM_LENGTH_OF),
    ), clause=clause)


# ---------------------------------------------------------------- whole data units


def vehicle_login(edition: int) -> Struct:
    if edition == 2016:
        return Struct("vehicle_login", (
            Time(), Scalar("serial", "H", lo=1, hi=65531), Str("iccid", 20),
            Count("subsystem_count", lo=0, hi=250), Scalar("code_length", lo=0, hi=50),
            List("subsystem_codes", Str("code", length_ref="code_length"), "subsystem_count"),
        ), clause="2016 T6")
    return Struct("vehicle_login", (
        Time(), Scalar("serial", "H", lo=1, hi=65531), Str("iccid", 20),
        Count("bms_count", lo=0, hi=20),
        List("packs_per_bms", Scalar("packs", lo=0, hi=50), "bms_count"),
        List("pack_codes", Str("code", 24), "packs_per_bms",
             doc="one 24-byte code (GB/T 34014) per pack: the sum of packs_per_bms"),
    ), clause="2025 T6")


@cache
def realtime(edition: int) -> Struct:
    return Struct("realtime", (Time(), info_types(edition)), clause="2016 T7" if edition == 2016 else "2025 T7")


def platform_login(edition: int) -> Struct:
    return Struct("platform_login", (
        Time(), Scalar("serial", "H", lo=1, hi=65531), Str("username", 12), Str("password", 20),
        Scalar("encryption_rule", enum=ENCRYPTION[edition]),
    ), clause="2016 T21" if edition == 2016 else "2025 §7 platform login (layout as 2016 T21)")


def control(edition: int) -> Struct:
    return Struct("control", (
        Time(),
        Scalar("command", enum=CONTROL_COMMANDS),
        Switch("params", "command", {
            0x01: Str("upgrade", doc="';'-separated fields, T B.16 order: " + ", ".join(UPGRADE_FIELDS)),
            0x06: Struct("warning", (Scalar("level", lo=0, hi=3 if edition == 2016 else 4), Raw("info"))),
        }, default=Raw("params")),
    ), clause="2016 T B.14/B.15" if edition == 2016 else "2025 Annex B terminal control (as 2016 T B.14/B.15)")


def activation() -> Struct:
    sig = signature_block()
    return Struct("activation", (
        Time(), Str("chip_id", 16), Count("public_key_length", "H"), Raw("public_key", length_ref="public_key_length"),
        Str("vin", 17), *sig.fields,
    ), clause="2025 T B.3")


def activation_result() -> Struct:
    return Struct("activation_result", (
        Scalar("status", enum={1: "ok", 2: "failed"}),
        Scalar("info", enum={0: "ok", 1: "chip_already_activated", 2: "vin_duplicate"}),
    ), clause="2025 T B.4")


def key_exchange() -> Struct:
    return Struct("key_exchange", (
        Scalar("key_type", enum={2: "rsa", 3: "aes", 4: "sm2", 5: "sm4"}),
        Count("key_length", "H"), Raw("key", length_ref="key_length"),
        Time("valid_from", doc="the key is valid from this time"), Time("expires", doc="the key expires at this time"),
    ), clause="2025 T31")


TIME_ONLY = Struct("time_only", (Time(),), clause="6.3.2: response keeps the time, drops the rest")
EMPTY = Struct("empty", (), clause="B.3.5.7/8: empty data unit")


@cache
def command_body(edition: int, command: int) -> Struct | None:
    """The body of a command frame (flag 0xFE), or None when the edition defines none."""
    table: dict[int, Struct] = {
        0x01: vehicle_login(edition),
        0x02: realtime(edition),
        0x03: realtime(edition),
        0x04: _time_serial("vehicle_logout", "T20"),
        0x05: platform_login(edition),
        0x06: _time_serial("platform_logout", "T22"),
        0x07: EMPTY,
        0x08: EMPTY,
        0x80: Struct("query", (Time(), Count("count", lo=0, hi=252),
                               List("ids", Scalar("id"), "count")), clause="T B.9"),
        0x81: _param_list(edition, "T B.13", "set"),
        0x82: control(edition),
    }
    if edition == 2025:
        table |= {0x09: activation(), 0x0A: activation_result(), 0x0B: key_exchange()}
    return table.get(command)


@cache
def response_bodies(edition: int, command: int) -> tuple[Struct, ...]:
    """Response bodies in the order they are tried: main-body style (time only) first, then the
    Annex B style that repeats the command's body, then a query's parameter answer."""
    options = [TIME_ONLY]
    if command == 0x80:
        options.append(_param_list(edition, "T B.10", "query_answer"))
    body = command_body(edition, command)
    if body is not None and body is not TIME_ONLY:
        options.append(body)
    return tuple(options)


def is_custom_command(command: int) -> bool:
    return 0xC0 <= command <= 0xFE
