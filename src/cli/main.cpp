#include "cli/options.hpp"

int main(int argc, char** argv) {
  return muster::cli::main(argc, argv);
}
