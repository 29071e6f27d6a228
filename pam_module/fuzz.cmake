# PAM module fuzz targets (included from fuzz/CMakeLists.txt when mg_pam_core exists).
# Corpora: fuzz/corpus/pam_credfile, pam_state, pam_conf.
mg_add_fuzzer(fuzz_pam_credfile SOURCES fuzz_pam_credfile.c LIBS mg_pam_core)
mg_add_fuzzer(fuzz_pam_state SOURCES fuzz_pam_state.c LIBS mg_pam_core)
mg_add_fuzzer(fuzz_pam_conf SOURCES fuzz_pam_conf.c LIBS mg_pam_core)
