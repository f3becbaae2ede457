# llhttp 8.1's C sources from Debian's node-llhttp, built here (never kept
# in this tree). scripts/install-deps unpacks the package into
# /opt/coil-deps/llhttp without installing it (it would pull in Node.js);
# an installed node-llhttp (/usr/share/llhttp) works too.
#
# The parser wrapper (parse.c, the one file that includes llhttp.h) and
# llhttp's three files are linked into one relocatable object whose llhttp*
# symbols are then made local: libcoil.a and libcoil.so define none of
# them, so a program can link its own llhttp beside coil.
set(COIL_LLHTTP_DIR "/opt/coil-deps/llhttp" CACHE PATH
  "Where node-llhttp is unpacked (its usr/share/llhttp, usr/share/include/llhttp)")
set(COIL_LLHTTP_SRC "")
foreach(root ${COIL_LLHTTP_DIR} /)
  if(EXISTS ${root}/usr/share/llhttp/llhttp.c AND EXISTS ${root}/usr/share/llhttp/api.c
     AND EXISTS ${root}/usr/share/llhttp/http.c
     AND EXISTS ${root}/usr/share/include/llhttp/llhttp.h)
    set(COIL_LLHTTP_SRC ${root}/usr/share/llhttp)
    set(COIL_LLHTTP_INC ${root}/usr/share/include/llhttp)
    break()
  endif()
endforeach()
if(NOT COIL_LLHTTP_SRC)
  message(FATAL_ERROR "coil: llhttp's sources (Debian's node-llhttp) are missing. "
    "Run scripts/install-deps (as root: it unpacks node-llhttp into /opt/coil-deps/llhttp "
    "without installing Node.js), or point -DCOIL_LLHTTP_DIR at a directory where the "
    "package is unpacked (dpkg-deb -x node-llhttp_*.deb DIR).")
endif()
file(STRINGS ${COIL_LLHTTP_INC}/llhttp.h COIL_LLHTTP_MAJOR REGEX "^#define LLHTTP_VERSION_MAJOR ")
if(NOT COIL_LLHTTP_MAJOR MATCHES " 8$")
  message(FATAL_ERROR "coil: ${COIL_LLHTTP_INC}/llhttp.h is not llhttp 8 (${COIL_LLHTTP_MAJOR}); "
    "src/http/scan.h and parse.c are written against 8.1")
endif()
message(STATUS "coil: llhttp from ${COIL_LLHTTP_SRC}")
if(NOT CMAKE_OBJCOPY)
  message(FATAL_ERROR "coil: objcopy not found (binutils; for a cross build the target's): "
    "it makes llhttp's symbols local to libcoil")
endif()

# Not our code: no warnings (-w), strict mode on.
add_library(coil_llhttp OBJECT ${COIL_LLHTTP_SRC}/llhttp.c ${COIL_LLHTTP_SRC}/api.c
  ${COIL_LLHTTP_SRC}/http.c)
target_include_directories(coil_llhttp PRIVATE ${COIL_LLHTTP_INC})
target_compile_definitions(coil_llhttp PRIVATE LLHTTP_STRICT_MODE=1)
target_compile_options(coil_llhttp PRIVATE -w)
set_target_properties(coil_llhttp PROPERTIES C_VISIBILITY_PRESET hidden)

add_library(coil_http_parse OBJECT ${CMAKE_CURRENT_SOURCE_DIR}/http/parse.c
  ${CMAKE_CURRENT_SOURCE_DIR}/http/scan.c)
target_include_directories(coil_http_parse PRIVATE ${PROJECT_SOURCE_DIR}/include
  ${CMAKE_CURRENT_SOURCE_DIR} ${COIL_LLHTTP_INC})
target_compile_definitions(coil_http_parse PRIVATE COIL_BUILDING _GNU_SOURCE LLHTTP_STRICT_MODE=1)
set_target_properties(coil_http_parse PROPERTIES C_VISIBILITY_PRESET hidden)

set(COIL_HTTP_PARSER_OBJ ${CMAKE_CURRENT_BINARY_DIR}/coil_http_parser.o)
add_custom_command(OUTPUT ${COIL_HTTP_PARSER_OBJ}
  COMMAND ${CMAKE_C_COMPILER} -r -nostdlib -o ${COIL_HTTP_PARSER_OBJ}.r
    $<TARGET_OBJECTS:coil_llhttp> $<TARGET_OBJECTS:coil_http_parse>
  COMMAND ${CMAKE_OBJCOPY} --wildcard --localize-symbol=llhttp* ${COIL_HTTP_PARSER_OBJ}.r
    ${COIL_HTTP_PARSER_OBJ}
  DEPENDS $<TARGET_OBJECTS:coil_llhttp> $<TARGET_OBJECTS:coil_http_parse>
  COMMAND_EXPAND_LISTS VERBATIM
  COMMENT "Linking the HTTP parser with llhttp (llhttp* made local)")
set_source_files_properties(${COIL_HTTP_PARSER_OBJ} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
