// xrun: expands an experiment file into tasks and runs them. All logic is in xrun_core.
#include "xrun/cli/app.hpp"

int main(int argc, char** argv) { return xrun::cli::run_cli(argc, argv); }
