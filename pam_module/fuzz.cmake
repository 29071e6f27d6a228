# PAM module fuzz targets (included from fuzz/CMakeLists.txt when mg_pam_core exists).
# Corpora: fuzz/corpus/pam_credfile, pam_state, pam_conf, pam_staff_record.
mg_add_fuzzer(fuzz_pam_credfile SOURCES fuzz_pam_credfile.c LIBS mg_pam_core)
mg_add_fuzzer(fuzz_pam_state SOURCES fuzz_pam_state.c LIBS mg_pam_core)
# The whole state file: two slots, older formats, the repair's salvage (corpus pam_statefile).
mg_add_fuzzer(fuzz_pam_statefile SOURCES fuzz_pam_statefile.c LIBS mg_pam_core)
mg_add_fuzzer(fuzz_pam_conf SOURCES fuzz_pam_conf.c LIBS mg_pam_core)
# The helper's assertion line and the FIDO2 child's answer (issue 13).
mg_add_fuzzer(fuzz_pam_proto SOURCES fuzz_pam_proto.c LIBS mg_pam_core)
# What the module reads from staff.db (a user's record) and the user file-name mapping (issue 15).
mg_add_fuzzer(fuzz_pam_staff_record SOURCES fuzz_pam_staff_record.c LIBS mg_pam_core)
