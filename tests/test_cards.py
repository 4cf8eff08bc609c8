"""Target cards: units, valid cards of every family, every way a card can be wrong, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesign.cards import FAMILIES, Card, list_cards, load_card, parse_card, shipped_card_files
from codesign.cli import main
from codesign.errors import CardError
from codesign.units import parse_unit, to_si

FAMILY_NAMES = ("fpga", "crossbar", "printed")

FIXTURE = "unit-test fixture value, not a measurement"

FPGA_CARD = f"""
name = "test-pynq-z2"
family = "fpga"
description = "Zynq-7020 test card"

[part]
name = "xc7z020clg400-1"
device_family = "zynq7000"
luts = {{ value = 53200, unit = "count", source = "Xilinx DS190, Zynq-7000 overview" }}
ffs = {{ value = 106400, unit = "count", source = "Xilinx DS190, Zynq-7000 overview" }}
dsps = {{ value = 220, unit = "count", source = "Xilinx DS190, Zynq-7000 overview" }}
bram_18k = {{ value = 280, unit = "count", source = "Xilinx DS190, Zynq-7000 overview" }}
dsp_a_bits = {{ value = 25, unit = "b", source = "Xilinx UG479, DSP48E1" }}
dsp_b_bits = {{ value = 18, unit = "b", source = "Xilinx UG479, DSP48E1" }}

[clock]
period = {{ value = 10, unit = "ns", source = "{FIXTURE}" }}

[power]
static = {{ value = 120, unit = "mW", source = "{FIXTURE}" }}
lut_dynamic = {{ value = 1.5, unit = "uW", source = "{FIXTURE}" }}
ff_dynamic = {{ value = 0.5, unit = "uW", source = "{FIXTURE}" }}
dsp_dynamic = {{ value = 60, unit = "uW", source = "{FIXTURE}" }}
bram_dynamic = {{ value = 0.1, unit = "mW", source = "{FIXTURE}" }}
toggle_rate = {{ value = 12.5, unit = "%", source = "{FIXTURE}" }}

[area]
lut = {{ value = 600, unit = "um^2", source = "{FIXTURE}" }}
ff = {{ value = 100, unit = "um^2", source = "{FIXTURE}" }}
dsp = {{ value = 0.02, unit = "mm^2", source = "{FIXTURE}" }}
bram_18k = {{ value = 0.04, unit = "mm^2", source = "{FIXTURE}" }}
"""

CROSSBAR_CARD = f"""
name = "test-rram"
family = "crossbar"
description = "1T1R RRAM test card"

[array]
rows = {{ value = 128, unit = "count", source = "{FIXTURE}" }}
cols = {{ value = 128, unit = "count", source = "{FIXTURE}" }}
bits_per_cell = {{ value = 2, unit = "b", source = "{FIXTURE}" }}
g_min = {{ value = 1, unit = "uS", source = "{FIXTURE}" }}
g_max = {{ value = 100, unit = "uS", source = "{FIXTURE}" }}
read_voltage = {{ value = 0.2, unit = "V", source = "{FIXTURE}" }}
read_time = {{ value = 100, unit = "ns", source = "{FIXTURE}" }}
cell_area = {{ value = 0.0324, unit = "um^2", source = "{FIXTURE}" }}
mapping = "offset"

[adc]
bits = {{ value = 8, unit = "b", source = "{FIXTURE}" }}
energy = {{ value = 1.67, unit = "pJ", source = "{FIXTURE}" }}
area = {{ value = 1200, unit = "um^2", source = "{FIXTURE}" }}
time = {{ value = 0.78, unit = "ns", source = "{FIXTURE}" }}
shared_by = {{ value = 128, unit = "count", source = "{FIXTURE}" }}
mode = "sar"

[dac]
bits = {{ value = 1, unit = "b", source = "{FIXTURE}" }}
energy = {{ value = 4, unit = "fJ", source = "{FIXTURE}" }}
area = {{ value = 0.17, unit = "um^2", source = "{FIXTURE}" }}
time = {{ value = 1, unit = "ns", source = "{FIXTURE}" }}
mode = "bit_serial"

[periphery]
digital_energy_per_op = {{ value = 0.2, unit = "pJ", source = "{FIXTURE}" }}
digital_area_per_tile = {{ value = 0.01, unit = "mm^2", source = "{FIXTURE}" }}
digital_time_per_op = {{ value = 1, unit = "ns", source = "{FIXTURE}" }}

[noise]
programming = {{ value = 2, unit = "%", source = "{FIXTURE}" }}
read = {{ value = 0.5, unit = "%", source = "{FIXTURE}" }}
variability = {{ value = 0.1, unit = "1", source = "{FIXTURE}" }}
stuck_at_gmin = {{ value = 0.1, unit = "%", source = "{FIXTURE}" }}
stuck_at_gmax = {{ value = 0.05, unit = "%", source = "{FIXTURE}" }}
"""

PRINTED_CARD = f"""
name = "test-egfet"
family = "printed"
description = "EGFET printed-process test card"

[process]
technology = "EGFET"
supply_voltage = {{ value = 1, unit = "V", source = "{FIXTURE}" }}
battery_power = {{ value = 30, unit = "mW", source = "{FIXTURE}" }}

[cells.NAND2]
function = "!(A&B)"
area = {{ value = 0.2, unit = "mm^2", source = "{FIXTURE}" }}
leakage = {{ value = 1.5, unit = "uW", source = "{FIXTURE}" }}
delay = {{ value = 4, unit = "ms", source = "{FIXTURE}" }}

[cells.INV]
function = "!A"
area = {{ value = 0.1, unit = "mm^2", source = "{FIXTURE}" }}
leakage = {{ value = 0.8, unit = "uW", source = "{FIXTURE}" }}
delay = {{ value = 2, unit = "ms", source = "{FIXTURE}" }}
switching_energy = {{ value = 3, unit = "nJ", source = "{FIXTURE}" }}
"""

CARDS = {"fpga": FPGA_CARD, "crossbar": CROSSBAR_CARD, "printed": PRINTED_CARD}
BAD_PATH = "/cards/bad-card.toml"


def mutate(text: str, old: str, new: str) -> str:
    """Replace the single occurrence of ``old`` (fails loudly if the fixture text changed)."""
    assert text.count(old) == 1, f"fixture does not contain exactly one {old!r}"
    return text.replace(old, new)


def card_error(text: str, path: str = BAD_PATH) -> str:
    """Parse a card that must be invalid; return the one-line error message."""
    with pytest.raises(CardError) as info:
        parse_card(text, path)
    message = str(info.value)
    assert "\n" not in message
    assert path in message, f"the error does not name the file: {message}"
    return message


# ---------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("unit", "dimension", "factor"), [
    ("pJ", "energy", 1e-12),
    ("um^2", "area", 1e-12),
    ("µm^2", "area", 1e-12),
    ("mm^2", "area", 1e-6),
    ("m^2", "area", 1.0),
    ("mW", "power", 1e-3),
    ("ns", "time", 1e-9),
    ("uS", "conductance", 1e-6),
    ("kohm", "resistance", 1e3),
    ("%", "dimensionless", 0.01),
    ("1", "dimensionless", 1.0),
    ("count", "count", 1.0),
    ("b", "bits", 1.0),
])
def test_parse_unit(unit: str, dimension: str, factor: float) -> None:
    got_dimension, got_factor = parse_unit(unit)
    assert got_dimension == dimension
    assert got_factor == pytest.approx(factor, rel=1e-12)


@pytest.mark.parametrize("unit", ["furlong", "pj", "kcount", "k%", "", "J/s"])
def test_unknown_unit_is_an_error(unit: str) -> None:
    with pytest.raises(CardError) as info:
        parse_unit(unit)
    assert f"unknown unit {unit!r}" in str(info.value)
    assert "um^2" in str(info.value)  # the hint shows valid examples


def test_to_si_converts_and_checks_the_dimension() -> None:
    assert to_si(1.67, "pJ", "energy", "x") == pytest.approx(1.67e-12)
    assert to_si(12.5, "%", "dimensionless", "x") == pytest.approx(0.125)
    with pytest.raises(CardError) as info:
        to_si(3.0, "pJ", "area", "card.toml: 'adc.area'")
    assert "card.toml: 'adc.area'" in str(info.value)
    assert "'pJ' is a energy, expected a area" in str(info.value)


# ---------------------------------------------------------------------------------------------
# Valid cards
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_fixture_card_loads(family: str) -> None:
    card = parse_card(CARDS[family], f"/cards/{family}.toml")
    assert isinstance(card, Card)
    assert card.family == family
    assert card.name == {"fpga": "test-pynq-z2", "crossbar": "test-rram", "printed": "test-egfet"}[family]
    assert card.path == f"/cards/{family}.toml"
    constants = card.constants()
    assert constants, "a card without constants"
    assert all(c.source == FIXTURE or c.source.startswith("Xilinx") for c in constants.values())


def test_fpga_card_values_are_si() -> None:
    card = parse_card(FPGA_CARD, "/cards/fpga.toml")
    assert card.part.name == "xc7z020clg400-1"
    assert card.part.luts.value == 53200 and isinstance(card.part.luts.value, int)
    assert card.part.uram is None
    assert card.clock.period.value == pytest.approx(10e-9)
    assert card.power.static.value == pytest.approx(0.12)
    assert card.power.toggle_rate.value == pytest.approx(0.125)
    assert card.area.lut.value == pytest.approx(600e-12)
    assert card.area.dsp.value == pytest.approx(0.02e-6)
    assert card.area.lut.unit == "um^2"
    assert card.constants()["power.toggle_rate"].unit == "%"


def test_crossbar_card_values_are_si() -> None:
    card = parse_card(CROSSBAR_CARD, "/cards/crossbar.toml")
    assert card.array.cell_area.value == pytest.approx(0.0324e-12)
    assert card.array.g_max.value == pytest.approx(100e-6)
    assert card.array.mapping == "offset"
    assert card.adc.energy.value == pytest.approx(1.67e-12)
    assert card.adc.mode == "sar"
    assert card.dac.energy.value == pytest.approx(4e-15)
    assert card.dac.shared_by is None
    assert card.noise.programming.value == pytest.approx(0.02)
    assert float(card.adc.bits) == 8.0 and int(card.adc.bits) == 8
    assert set(card.constants()) >= {"array.cell_area", "adc.energy", "noise.stuck_at_gmax"}


def test_printed_card_values_are_si() -> None:
    card = parse_card(PRINTED_CARD, "/cards/printed.toml")
    assert card.process.battery_power.value == pytest.approx(30e-3)
    assert set(card.cells) == {"NAND2", "INV"}
    assert card.cells["NAND2"].function == "!(A&B)"
    assert card.cells["NAND2"].area.value == pytest.approx(0.2e-6)
    assert card.cells["INV"].switching_energy.value == pytest.approx(3e-9)
    assert card.constants()["cells.NAND2.delay"].value == pytest.approx(4e-3)


def test_content_hash_follows_the_text() -> None:
    a = parse_card(CROSSBAR_CARD, "a.toml")
    b = parse_card(CROSSBAR_CARD, "b.toml")
    c = parse_card(mutate(CROSSBAR_CARD, "value = 0.2, unit = \"V\"", "value = 0.3, unit = \"V\""), "c.toml")
    assert a.content_hash == b.content_hash
    assert a.content_hash != c.content_hash
    assert len(a.content_hash) == 64


def test_load_card_by_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(PRINTED_CARD, encoding="utf-8")
    card = load_card(path)
    assert card.name == "test-egfet"
    assert card.path == str(path)


def test_load_card_unknown_name_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="no card named 'no-such-card'"):
        load_card("no-such-card")
    with pytest.raises(CardError, match="missing.toml: no such card file"):
        load_card(tmp_path / "missing.toml")


# ---------------------------------------------------------------------------------------------
# Invalid cards: each error names the file, the dotted key and what is expected
# ---------------------------------------------------------------------------------------------
class TestInvalidCards:
    def test_missing_field(self) -> None:
        text = mutate(CROSSBAR_CARD, f'rows = {{ value = 128, unit = "count", source = "{FIXTURE}" }}\n', "")
        message = card_error(text)
        assert "missing key 'array.rows'" in message
        assert "expected { value = <count>" in message

    def test_missing_section(self) -> None:
        start = FPGA_CARD.index("[area]")
        message = card_error(FPGA_CARD[:start])
        assert "missing key 'area'" in message
        assert "expected a [area] table" in message

    def test_missing_name(self) -> None:
        message = card_error(mutate(PRINTED_CARD, 'name = "test-egfet"\n', ""))
        assert "missing key 'name'" in message

    def test_negative_area(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, "value = 0.0324,", "value = -1,"))
        assert "'array.cell_area' = -1 must be > 0" in message
        assert "expected a positive value" in message

    def test_adc_bits_zero(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'bits = { value = 8,', 'bits = { value = 0,'))
        assert "'adc.bits' = 0 must be >= 1" in message
        assert "expected a value >= 1" in message

    def test_fraction_above_one(self) -> None:
        message = card_error(mutate(FPGA_CARD, "value = 12.5,", "value = 150,"))
        assert "'power.toggle_rate' = 150 must be <= 1" in message

    def test_count_must_be_whole(self) -> None:
        message = card_error(mutate(FPGA_CARD, "value = 220,", "value = 220.5,"))
        assert "'part.dsps' = 220.5 must be a whole number" in message

    def test_unknown_top_level_section(self) -> None:
        message = card_error(CROSSBAR_CARD + '\n[extras]\ncolour = "red"\n')
        assert "unknown key 'extras'" in message
        assert "expected one of: adc, array, dac, noise, periphery" in message

    def test_unknown_key_inside_section(self) -> None:
        extra = f'layers = {{ value = 3, unit = "count", source = "{FIXTURE}" }}\n'
        text = mutate(CROSSBAR_CARD, "[array]\n", "[array]\n" + extra)
        message = card_error(text)
        assert "unknown key 'array.layers'" in message
        assert "cell_area" in message and "g_max" in message

    def test_unknown_key_inside_a_constant(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'unit = "V",', 'unit = "V", colour = "red",'))
        assert "unknown key 'array.read_voltage.colour'" in message
        assert "use value, unit, source, note" in message

    def test_constant_without_source(self) -> None:
        text = mutate(CROSSBAR_CARD, f'unit = "V", source = "{FIXTURE}"', 'unit = "V"')
        message = card_error(text)
        assert "'array.read_voltage' has no source" in message
        assert "add source =" in message

    def test_constant_with_blank_source(self) -> None:
        text = mutate(CROSSBAR_CARD, f'unit = "V", source = "{FIXTURE}"', 'unit = "V", source = "  "')
        message = card_error(text)
        assert "'array.read_voltage.source' is empty" in message

    def test_bare_number_instead_of_constant(self) -> None:
        text = mutate(FPGA_CARD, f'period = {{ value = 10, unit = "ns", source = "{FIXTURE}" }}', "period = 10")
        message = card_error(text)
        assert "'clock.period' must be an inline table with value, unit and source" in message

    def test_wrong_unit_dimension(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'value = 0.0324, unit = "um^2"', 'value = 0.0324, unit = "pJ"'))
        assert "'array.cell_area'" in message
        assert "unit 'pJ' is a energy, expected a area" in message

    def test_unknown_unit(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'value = 0.0324, unit = "um^2"', 'value = 0.0324, unit = "sqft"'))
        assert "'array.cell_area'" in message
        assert "unknown unit 'sqft'" in message

    def test_non_numeric_value(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, "value = 0.0324,", 'value = "tiny",'))
        assert "'array.cell_area.value' = 'tiny' is not a number" in message
        assert "expected a area" in message

    def test_non_finite_value(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, "value = 0.0324,", "value = nan,"))
        assert "'array.cell_area.value' is not finite" in message

    def test_invalid_setting_choice(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'mapping = "offset"', 'mapping = "diagonal"'))
        assert "'array.mapping' = 'diagonal' is invalid" in message
        assert "expected 'differential' or 'offset'" in message

    def test_invalid_toml(self) -> None:
        message = card_error(CROSSBAR_CARD + "\n[array\n")
        assert "not valid TOML" in message

    def test_unknown_family(self) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'family = "crossbar"', 'family = "asic"'))
        assert "'family' = 'asic' is invalid" in message
        assert "expected one of fpga, crossbar, printed" in message

    @pytest.mark.parametrize("g_max", ["1", "0.5"])
    def test_g_max_must_exceed_g_min(self, g_max: str) -> None:
        message = card_error(mutate(CROSSBAR_CARD, 'value = 100, unit = "uS"', f'value = {g_max}, unit = "uS"'))
        assert "'array.g_max' must exceed 'array.g_min'" in message

    def test_empty_cells_table(self) -> None:
        start = PRINTED_CARD.index("[cells.NAND2]")
        message = card_error(PRINTED_CARD[:start] + "[cells]\n")
        assert "'cells' must be a non-empty table" in message

    def test_error_inside_a_cell_names_the_cell(self) -> None:
        message = card_error(mutate(PRINTED_CARD, "value = 4, unit = \"ms\"", "value = 4, unit = \"mW\""))
        assert "'cells.NAND2.delay'" in message
        assert "expected a time" in message


# ---------------------------------------------------------------------------------------------
# Shipped cards (written into targets/{fpga,crossbar,printed}/*.toml)
# ---------------------------------------------------------------------------------------------
def test_every_shipped_card_loads_with_sources() -> None:
    files = shipped_card_files()
    cards = list_cards()
    assert [Path(card.path).stem for card in cards] == list(files)
    for card in cards:
        assert card.family in FAMILIES
        assert Path(card.path).parent.name == card.family, f"{card.path} is filed under the wrong family"
        constants = card.constants()
        assert constants, f"{card.path} has no constants"
        for key, constant in constants.items():
            assert constant.source.strip(), f"{card.path}: {key} has no source"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_at_least_one_card_ships_per_family(family: str) -> None:
    shipped = [Path(path).stem for path in shipped_card_files().values() if Path(path).parent.name == family]
    assert shipped, f"no {family} card ships: add one to targets/{family}/*.toml"


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
class TestCardsCommand:
    def test_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["cards"]) == 0
        out, err = capsys.readouterr()
        assert "target cards" in out
        assert err == ""

    def test_list_json_matches_shipped(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["cards", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [entry["name"] for entry in listed] == [card.name for card in list_cards()]

    def test_unknown_name(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["cards", "no-such-card"]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("codesign cards: error: no card named 'no-such-card'")

    def test_invalid_card_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "bad.toml"
        path.write_text(mutate(CROSSBAR_CARD, 'bits = { value = 8,', 'bits = { value = 0,'), encoding="utf-8")
        assert main(["cards", str(path)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
        assert str(path) in err
        assert "'adc.bits'" in err

    def test_show_card_file_as_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = tmp_path / "good.toml"
        path.write_text(CROSSBAR_CARD, encoding="utf-8")
        assert main(["cards", str(path), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert (shown["name"], shown["family"]) == ("test-rram", "crossbar")
        assert shown["constants"]["adc.energy"] == {"value": pytest.approx(1.67e-12), "unit": "pJ",
                                                    "source": FIXTURE}
