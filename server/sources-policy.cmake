# Policy bundles, policy signing and admin authentication (issue 5).
# Tests: tests/server/tests-policy.cmake; fuzz: fuzz/fuzz_policy_bundle.c; docs: docs/POLICY.md.
mg_require_pkg(LIBCRYPTO libcrypto libssl-dev)
mg_require_pkg(ARGON2 libargon2 libargon2-dev)

# ---- mg_policy_verify: the bundle format (pure parser, canonical writer) and Ed25519
# signatures. Links only mg_common and libcrypto, so the agent can use it to check bundles.
add_library(mg_policy_verify STATIC
  src/policy_bundle.c
  src/policy_sign.c)
target_include_directories(mg_policy_verify PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/src)
target_link_libraries(mg_policy_verify PUBLIC mg_common PkgConfig::LIBCRYPTO)
mg_target_defaults(mg_policy_verify)

# ---- mg_collector_policy: publishing from the store (policy_build.c) and admin
# authentication (admin_auth.c: Argon2id, sessions, roles).
add_library(mg_collector_policy STATIC
  src/policy_build.c
  src/admin_auth.c)
target_link_libraries(mg_collector_policy
  PUBLIC mg_policy_verify mg_common mg_collector_store PkgConfig::LIBCRYPTO
  PRIVATE PkgConfig::ARGON2)
mg_target_defaults(mg_collector_policy)
