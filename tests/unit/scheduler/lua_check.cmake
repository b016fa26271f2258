# The Redis store's Lua under luacheck, with the repository's .luacheckrc; any warning fails.
#   cmake -DMODE=<mode> -DSOURCE_DIR=<repository> -DLUACHECK=<luacheck> [-DSCHEDULER=<qg-scheduler>] -P lua_check.cmake
# MODE files:         every file of scheduler/lua on its own (as scripts/lint runs it).
# MODE library:       the library as the store loads it (qg-scheduler --print-lua-library),
#                     where the prelude's locals are in scope in every body.
# MODE prelude_names: the names .luacheckrc declares for the bodies (its prelude_state and
#                     prelude lists) are exactly the top-level locals of prelude.lua.
cmake_minimum_required(VERSION 3.21)
set(lua_dir ${SOURCE_DIR}/scheduler/lua)

if(MODE STREQUAL "prelude_names")
  # prelude.lua's top-level locals: its unindented `local a, b = ...` and `local function f`.
  file(READ ${lua_dir}/prelude.lua prelude)
  string(REGEX MATCHALL "\nlocal [A-Za-z0-9_, ]+" declarations "${prelude}")
  set(defined "")
  foreach(declaration IN LISTS declarations)
    string(REGEX REPLACE "^\nlocal (function )?" "" names "${declaration}")
    string(REPLACE " " "" names "${names}")
    string(REPLACE "," ";" names "${names}")
    list(APPEND defined ${names})
  endforeach()
  # .luacheckrc's two lists.
  file(READ ${SOURCE_DIR}/.luacheckrc config)
  set(declared "")
  foreach(list_name prelude_state prelude)
    if(NOT config MATCHES "\nlocal ${list_name} = {([^}]*)}")
      message(FATAL_ERROR ".luacheckrc: no `local ${list_name} = {...}` list")
    endif()
    string(REGEX MATCHALL "\"[A-Za-z0-9_]+\"" names "${CMAKE_MATCH_1}")
    string(REPLACE "\"" "" names "${names}")
    list(APPEND declared ${names})
  endforeach()
  set(missing ${defined})
  list(REMOVE_ITEM missing ${declared})
  set(extra ${declared})
  list(REMOVE_ITEM extra ${defined})
  list(LENGTH defined n_defined)
  list(LENGTH declared n_declared)
  if(missing OR extra OR NOT n_defined EQUAL n_declared)
    message(FATAL_ERROR ".luacheckrc's prelude lists differ from prelude.lua's top-level locals:\n"
                        "  in prelude.lua only: ${missing}\n  in .luacheckrc only: ${extra}\n"
                        "  (${n_defined} locals, ${n_declared} names declared; a name declared twice counts twice)")
  endif()
  message(STATUS "prelude.lua's ${n_defined} top-level locals are the names .luacheckrc declares")
  return()
endif()

if(NOT EXISTS "${LUACHECK}")
  message(FATAL_ERROR "luacheck was not found (Debian: apt-get install lua-check; scripts/setup installs it)")
endif()
if(MODE STREQUAL "files")
  execute_process(COMMAND ${LUACHECK} --no-color scheduler/lua WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "luacheck found problems in scheduler/lua (above)")
  endif()
elseif(MODE STREQUAL "library")
  # The name selects the library's settings in .luacheckrc.
  execute_process(COMMAND ${SCHEDULER} --print-lua-library
                  COMMAND ${LUACHECK} --no-color --filename lua-library.lua -
                  WORKING_DIRECTORY ${SOURCE_DIR} RESULTS_VARIABLE rcs)
  if(NOT rcs STREQUAL "0;0")
    message(FATAL_ERROR "the assembled library failed its check (exit codes: qg-scheduler, luacheck = ${rcs})")
  endif()
else()
  message(FATAL_ERROR "lua_check.cmake: MODE is files, library or prelude_names")
endif()
