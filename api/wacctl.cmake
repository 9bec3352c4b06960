# wacctl, the command-line client (its main lives with the other mains in agent/).
add_executable(wacctl ${CMAKE_SOURCE_DIR}/agent/wacctl_main.cc)
target_link_libraries(wacctl PRIVATE wac_api CLI11::CLI11)
install(TARGETS wacctl RUNTIME DESTINATION bin)
