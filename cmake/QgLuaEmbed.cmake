# qg_embed_lua(<target> DIR <dir> HEADER <file name> NAMESPACE <C++ namespace>)
# Generates, at build time, <target>'s private header <file name> holding every <dir>/*.lua
# as a std::string_view constant (cmake/lua_embed.cmake says how): the binary carries the
# Lua, and nothing is read from disk at run time. Editing a .lua file regenerates the header
# and rebuilds what includes it; adding or removing one re-runs cmake (CONFIGURE_DEPENDS).
set(QG_LUA_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/lua_embed.cmake)

function(qg_embed_lua target)
  cmake_parse_arguments(ARG "" "DIR;HEADER;NAMESPACE" "" ${ARGN})
  file(GLOB lua_files CONFIGURE_DEPENDS ${ARG_DIR}/*.lua)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/generated)
  set(out ${out_dir}/${ARG_HEADER})
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DLUA_DIR=${ARG_DIR} -DOUT=${out} -DNAMESPACE=${ARG_NAMESPACE} -P ${QG_LUA_EMBED_SCRIPT}
    DEPENDS ${lua_files} ${QG_LUA_EMBED_SCRIPT}
    COMMENT "Embedding ${ARG_DIR}/*.lua in ${ARG_HEADER}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
  target_include_directories(${target} PRIVATE ${out_dir})
endfunction()
