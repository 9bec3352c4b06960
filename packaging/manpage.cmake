# Builds a gzipped man page from a program's --help with help2man, so the man
# page can never disagree with the options the binary accepts.
#
#   cmake -DHELP2MAN=... -DPROGRAM=/path/to/wacctl -DPROGRAM_NAME=wacctl
#         -DSECTION=1 -DSUMMARY="..." -DVERSION=0.1.0 -DINCLUDE=wacctl.h2m
#         -DOUTPUT=wacctl.1.gz -P manpage.cmake
#
# If the program lists "Subcommands:" (CLI11), each subcommand's --help is
# added verbatim in a COMMANDS section.
foreach(var HELP2MAN PROGRAM PROGRAM_NAME SECTION SUMMARY VERSION INCLUDE OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "manpage.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run_help out_var)
  execute_process(COMMAND ${PROGRAM} ${ARGN} --help
                  OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${PROGRAM} ${ARGN} --help failed (${rc}): ${err}")
  endif()
  # Usage lines print the path the program was run by; a man page shows its name.
  string(REPLACE "${PROGRAM}" "${PROGRAM_NAME}" text "${text}")
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# Text that roff must print as is: backslashes escaped, and no line may start
# with a control character.
function(roff_verbatim out_var text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} ".nf\n${text}\n.fi\n" PARENT_SCOPE)
endfunction()

function(subcommand_names out_var help)
  set(names "")
  set(in_list FALSE)
  string(REPLACE "\n" ";" lines "${help}")
  foreach(line IN LISTS lines)
    if(line MATCHES "^Subcommands:")
      set(in_list TRUE)
    elseif(in_list AND line MATCHES "^  ([a-z][a-z0-9-]*)  ")
      list(APPEND names "${CMAKE_MATCH_1}")
    elseif(in_list AND NOT line MATCHES "^ ")
      set(in_list FALSE)
    endif()
  endforeach()
  set(${out_var} "${names}" PARENT_SCOPE)
endfunction()

file(READ "${INCLUDE}" include_text)
run_help(main_help)
subcommand_names(subcommands "${main_help}")
if(subcommands)
  string(APPEND include_text "\n[COMMANDS]\n")
  foreach(sub IN LISTS subcommands)
    run_help(sub_help ${sub})
    roff_verbatim(body "${sub_help}")
    string(APPEND include_text ".SS \"${PROGRAM_NAME} ${sub}\"\n${body}")
  endforeach()
endif()

get_filename_component(out_dir "${OUTPUT}" DIRECTORY)
set(include_file "${out_dir}/${PROGRAM_NAME}.h2m")
string(REGEX REPLACE "\\.gz$" "" page "${OUTPUT}")
file(WRITE "${include_file}" "${include_text}")
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section=${SECTION} --name=${SUMMARY}
          --version-string=${VERSION} --include=${include_file} --output=${page} ${PROGRAM}
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed for ${PROGRAM}: ${err}")
endif()
# help2man prints the program's path where the usage line names it.
file(READ "${page}" page_text)
string(REPLACE "${PROGRAM}" "${PROGRAM_NAME}" page_text "${page_text}")
file(WRITE "${page}" "${page_text}")
# -n: no name or time stamp in the header, so rebuilds are byte-identical.
execute_process(COMMAND gzip -9nf "${page}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip ${page} failed")
endif()
