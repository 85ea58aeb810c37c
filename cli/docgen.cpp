// dictlearn_docgen: writes docs/OPTIONS.md from the parameter tables, or with
// --check fails when the file differs from what the tables give (a CTest test,
// so stale docs fail the build's tests).
//
//   dictlearn_docgen FILE            write FILE
//   dictlearn_docgen --check FILE    exit 1 if FILE is not up to date
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "dictlearn/parameters.hpp"

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::cerr << "usage: dictlearn_docgen [--check] FILE\n";
    return 2;
  }
  const std::string path = argv[argc - 1];
  const std::string expected = dictlearn::options_markdown();
  if (check) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (text.str() == expected) return 0;
    std::cerr << path << " is stale: the parameter tables (src/core/parameters.cpp) changed; "
              << "regenerate it with `cmake --build BUILD --target options_doc`\n";
    return 1;
  }
  std::ofstream out(path, std::ios::binary);
  out << expected;
  if (!out.flush()) {
    std::cerr << path << ": cannot write\n";
    return 1;
  }
  return 0;
}
