# mg_require_pkg(NAME MODULE DEBIAN_PACKAGE): find MODULE with pkg-config and provide the
# imported target PkgConfig::NAME, or stop with an error naming the Debian package to install.
# Every package is also listed in deploy/debian-build-deps.txt (installed by deploy/install-build-deps.sh).
include_guard(GLOBAL)
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install it with 'apt-get install pkg-config' "
                      "(or run deploy/install-build-deps.sh)")
endif()

function(mg_require_pkg name module debpkg)
  if(TARGET PkgConfig::${name})
    return()
  endif()
  pkg_check_modules(${name} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "missing dependency '${module}': install the Debian package '${debpkg}' "
                        "(apt-get install ${debpkg}, or run deploy/install-build-deps.sh)")
  endif()
  # A .pc file may name a library by its file path instead of -L/-l (Debian's libpamtest.pc:
  # "Libs: /usr/lib/x86_64-linux-gnu/libpamtest.so"). pkg_check_modules files such an entry
  # under INTERFACE_LINK_OPTIONS, which the linker sees before the objects; with the
  # toolchain's default --as-needed the library is then dropped and its symbols are undefined.
  # Move every absolute path to a library file into INTERFACE_LINK_LIBRARIES, where it is
  # ordered after the objects and the static libraries that need it.
  get_target_property(options PkgConfig::${name} INTERFACE_LINK_OPTIONS)
  if(options)
    set(kept "")
    set(libs "")
    foreach(option IN LISTS options)
      if(IS_ABSOLUTE "${option}" AND option MATCHES "\\.(so(\\.[0-9]+)*|a)$")
        list(APPEND libs "${option}")
      else()
        list(APPEND kept "${option}")
      endif()
    endforeach()
    if(libs)
      set_property(TARGET PkgConfig::${name} PROPERTY INTERFACE_LINK_OPTIONS "${kept}")
      set_property(TARGET PkgConfig::${name} APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${libs})
    endif()
  endif()
endfunction()

# mg_find_program(VAR PROGRAM DEBIAN_PACKAGE): like find_program, but a clear hint when missing.
function(mg_find_program var program debpkg)
  find_program(${var} ${program})
  if(NOT ${var})
    message(STATUS "optional program '${program}' not found (Debian package '${debpkg}'); "
                   "tests that need it are skipped")
  endif()
endfunction()
