# LibreLane PDK configuration for the OSU 0.35 um technology as Debian ships it (package qflow-tech-osu035).
# Written and kept by OpenLane Cloud for its local LibreLane flow (flow id librelane-osu035); see ../../../../README.md.
# LibreLane evaluates these `set ::env(...)` lines itself (librelane/config/config.py); PDK_ROOT and PDK are set
# by its command line (--pdk-root, --pdk).
set ::env(STD_CELL_LIBRARY) "osu035_stdcells"
set ::env(VDD_PIN) "vdd"
set ::env(GND_PIN) "gnd"
set ::env(VDD_PIN_VOLTAGE) "3.3"

# One corner: the Liberty file characterises typical process, 25 C, 3.3 V ("typical" operating conditions).
set ::env(DEFAULT_CORNER) "nom_tt_025C_3v30"
set ::env(STA_CORNERS) "nom_tt_025C_3v30"

# OSU's LEF holds the technology (layers, vias, sites) and the cells in one file.
set ::env(TECH_LEFS) "\"nom_*\" \"/usr/share/qflow/tech/osu035/osu035_stdcells.lef\""

# Required by LibreLane's PDK schema although only its placement, routing and sign-off steps read them; the values are
# the technology's own (four metal layers, magic's SCN4M_SUBM.20 tech file), not placeholders. Those steps need
# OpenROAD, which no package registry here offers, so the local flow stops after synthesis (see the README).
set ::env(PRIMARY_GDSII_STREAMOUT_TOOL) "magic"
set ::env(RT_MIN_LAYER) "metal2"
set ::env(RT_MAX_LAYER) "metal4"

# Timing constraints for LibreLane's generated SDC: percent of the clock period for I/O delays, percent derating.
set ::env(IO_DELAY_CONSTRAINT) "20"
set ::env(TIME_DERATING_CONSTRAINT) "5"
