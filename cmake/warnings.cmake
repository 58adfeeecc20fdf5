# SPDX-License-Identifier: Apache-2.0
# Compiler flags shared by every target, as an INTERFACE library linked PRIVATE so the flags
# never leak to consumers.
add_library(project_options INTERFACE)
target_compile_definitions(project_options INTERFACE _GNU_SOURCE
  KR_VERSION="${PROJECT_VERSION}")
target_compile_options(project_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wold-style-definition -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla
  -Wimplicit-fallthrough -Wundef -fno-common)
if(WERROR)
  target_compile_options(project_options INTERFACE -Werror)
endif()
if(SANITIZE)
  target_compile_options(project_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(project_options INTERFACE -fsanitize=address,undefined)
endif()
if(FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FUZZ=ON needs clang: cmake -DCMAKE_C_COMPILER=clang -DFUZZ=ON")
  endif()
  target_compile_options(project_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(project_options INTERFACE -fsanitize=address,undefined)
endif()
