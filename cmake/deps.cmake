# SPDX-License-Identifier: Apache-2.0
# Third-party libraries, found with pkg-config (Debian -dev packages; scripts/install-deps).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# STATIC_DEPS: PkgConfig::<NAME> is made here, from `pkg-config --static`: each library and its
# own dependencies as archives (lib<name>.a), in pkg-config's order; the C library's parts (and
# nothing else) stay shared.
function(kr_static_module name module)
  # Ask pkg-config at every configure: FindPkgConfig keeps its first answer in the cache, and a
  # rebuilt PREFIX (scripts/build-deps) may link other libraries than the one before.
  unset(__pkg_config_checked_${name} CACHE)
  pkg_check_modules(${name} REQUIRED ${module})
  set(libs "")
  foreach(l IN LISTS ${name}_STATIC_LIBRARIES)
    if(l MATCHES "^(c|m|dl|rt|pthread|resolv)$")
      list(APPEND libs ${l})
    else()
      find_library(KR_STATIC_${l} NAMES lib${l}.a HINTS ${${name}_STATIC_LIBRARY_DIRS}
                   NO_CACHE REQUIRED)
      list(APPEND libs ${KR_STATIC_${l}})
    endif()
  endforeach()
  add_library(PkgConfig::${name} INTERFACE IMPORTED GLOBAL)
  set_target_properties(PkgConfig::${name} PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${${name}_STATIC_INCLUDE_DIRS}"
    INTERFACE_COMPILE_OPTIONS "${${name}_STATIC_CFLAGS_OTHER}"
    INTERFACE_LINK_LIBRARIES "${libs};Threads::Threads")
  message(STATUS "${module}: static, ${libs}")
endfunction()

if(STATIC_DEPS)
  kr_static_module(SQLITE3 sqlite3)
  kr_static_module(JANSSON jansson)
  kr_static_module(YAML yaml-0.1)
  kr_static_module(CURL libcurl)
  kr_static_module(MHD libmicrohttpd)
  add_link_options(-no-pie)
  add_compile_options(-fno-pie)
else()
  pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
  pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
  pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
endif()
# The sidecar loads libpq at run time (pkg/store/pqlib.c) and uses only its headers; the
# PostgreSQL test tools link it.
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
if(BUILD_TESTING)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
