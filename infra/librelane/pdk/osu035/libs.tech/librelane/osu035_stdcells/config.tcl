# LibreLane standard-cell library configuration: OSU 0.35 um cells (Debian package qflow-tech-osu035).
# The Liberty file is Debian's, re-laid out by the installer into libs.ref (see devstack/librelane.py):
# LibreLane's Liberty filter drops the closing brace of the library when the last cells are one-line groups, as the
# four pad-frame cells at the end of Debian's file are.
set ::env(LIB) "\"*_tt_025C_3v30\" \"$::env(PDK_ROOT)/$::env(PDK)/libs.ref/$::env(STD_CELL_LIBRARY)/lib/osu035_stdcells__tt_025C_3v30.lib\""
set ::env(CELL_LEFS) "/usr/share/qflow/tech/osu035/osu035_stdcells.lef"
set ::env(CELL_VERILOG_MODELS) "/usr/share/qflow/tech/osu035/osu035_stdcells.v"
# Debian removed the cells' GDS for licensing reasons: there is no cell layout to give. Only stream-out reads this.
set ::env(CELL_GDS) ""

set ::env(SCL_POWER_PINS) "vdd"
set ::env(SCL_GROUND_PINS) "gnd"
set ::env(PLACE_SITE) "core"
set ::env(FILL_CELLS) "FILL"
set ::env(DECAP_CELLS) ""
set ::env(CELL_PAD_EXCLUDE) "PAD*"

# Cells synthesis must not pick: the pad cells (they carry logic functions, but belong in an I/O ring).
set ::env(SYNTH_EXCLUDED_CELL_FILE) "$::env(PDK_ROOT)/$::env(PDK)/libs.tech/librelane/$::env(STD_CELL_LIBRARY)/synth_exclude.cells"
set ::env(PNR_EXCLUDED_CELL_FILE) "$::env(PDK_ROOT)/$::env(PDK)/libs.tech/librelane/$::env(STD_CELL_LIBRARY)/pnr_exclude.cells"

# Drivers and loads LibreLane's generated SDC assumes at the design's ports.
set ::env(SYNTH_DRIVING_CELL) "BUFX2/Y"
set ::env(SYNTH_CLK_DRIVING_CELL) "CLKBUF1/Y"
set ::env(SYNTH_BUFFER_CELL) "BUFX2/A/Y"
# The library has no tie cells: yosys keeps constants as assignments (Checker.NetlistAssignStatements reports them).
set ::env(SYNTH_TIEHI_CELL) ""
set ::env(SYNTH_TIELO_CELL) ""
# fF (LibreLane's unit): about three gate inputs of this technology (INVX1's input is about 16 fF).
set ::env(OUTPUT_CAP_LOAD) "50"
set ::env(MAX_FANOUT_CONSTRAINT) "10"
# ns (the Liberty's time_unit)
set ::env(MAX_TRANSITION_CONSTRAINT) "1.5"
set ::env(CLOCK_UNCERTAINTY_CONSTRAINT) "0.25"
set ::env(CLOCK_TRANSITION_CONSTRAINT) "0.15"
