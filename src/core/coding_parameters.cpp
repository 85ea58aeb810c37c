// The coding table: CodingOptions as `dictlearn encode` and `eval` take them,
// the checks of validate(const CodingOptions&), the CLI's refusal of flags a
// coder does not read, and the coding section of docs/OPTIONS.md.
//
// Which coders read a row comes from coder_table() (each coder's traits list
// the CodingOptions members it reads), so the coders added to that table get
// their flags, help and checks here without a change to this file.
#include <algorithm>
#include <string_view>

#include "core/check.hpp"
#include "core/parameter_rows.hpp"
#include "dictlearn/parameters.hpp"

namespace dictlearn {
namespace {

using detail::at_least;
using detail::either;
using detail::non_negative_finite;

/// A row and the CodingOptions member it sets, by the name the coders'
/// traits use; "" for the rows every coder reads (--coder, --threads).
struct CodingRow {
  Parameter<CodingOptions> parameter;
  std::string member;
};

/// A name with '_' as '-': the one rule between the table's names and the CLI's.
std::string dashed(std::string_view name) {
  std::string text(name);
  std::replace(text.begin(), text.end(), '_', '-');
  return text;
}

std::vector<std::string> coder_flag_names() {
  std::vector<std::string> names;
  for (const CoderTraits& traits : coder_table()) names.push_back(dashed(traits.name));
  return names;
}

/// --coder's value: a name of coder_table(), with '-' or '_' between words.
CoderKind parse_coder_flag(const std::string& name) {
  for (const CoderTraits& traits : coder_table()) {
    if (dashed(traits.name) == dashed(name)) return traits.kind;
  }
  DICTLEARN_FAIL("--coder: unknown coder '{}' (expected {})", name, either(coder_flag_names()));
}

bool reads_member(const CoderTraits& traits, const std::string& member) {
  if (member.empty()) return true;
  return std::any_of(traits.parameters.begin(), traits.parameters.end(),
                     [&](const char* name) { return member == name; });
}

/// A Markdown table cell: `|` escaped.
std::string escape_cell(const std::string& cell) {
  std::string escaped;
  for (const char c : cell) {
    if (c == '|') escaped += '\\';
    escaped += c;
  }
  return escaped;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

std::vector<CodingRow> make_rows() {
  using O = CodingOptions;
  std::vector<CodingRow> rows = {
      {{.flag = "coder",
        .python = "algorithm",
        .field =
            ChoiceField<O>{[](const O& o) { return coder_flag_name(o.method); },
                           [](O& o, const std::string& name) { o.method = parse_coder_flag(name); },
                           coder_flag_names()},
        .help = "code with this coder instead of the model's own encoder (needed for a plain "
                "atoms file); the list is below",
        .recorded = true,
        .resume_must_match = true},
       ""},
      {{.flag = "n-nonzero",
        .python = "n_nonzero_coefs",
        .field = DICTLEARN_FIELD(O, n_nonzero),
        .help = "the most nonzero codes per signal, L (default: max(1, dim/10) capped at the "
                "atoms, or no cap but the atoms with --max-error)",
        .range = {.checked = true, .min = 0, .wording = ">= 1, or 0 for the default"},
        .recorded = true,
        .resume_must_match = true},
       "n_nonzero"},
      {{.flag = "max-error",
        .python = "max_error",
        .field = DICTLEARN_FIELD(O, max_error),
        .help = "stop once the squared residual |x - rD|^2 is at most this, epsilon (0: not used)",
        .range = non_negative_finite(" (0: not used)"),
        .recorded = true,
        .resume_must_match = true},
       "max_error"},
      {{.flag = "alpha",
        .python = "alpha",
        .field = DICTLEARN_FIELD(O, alpha),
        .help = "the l1 weight of the lasso 1/2 |x - rD|^2 + alpha |r|_1, or the threshold",
        .range = non_negative_finite(),
        .recorded = true,
        .resume_must_match = true},
       "alpha"},
      {{.flag = "l2",
        .python = "l2",
        .field = DICTLEARN_FIELD(O, l2),
        .help =
            "the elastic net's l2 weight lambda2: adds 1/2 lambda2 |r|^2 to the lasso (0: plain "
            "lasso)",
        .range = non_negative_finite(),
        .recorded = true,
        .resume_must_match = true},
       "l2"},
      {{.flag = "positive",
        .python = "positive",
        .field = DICTLEARN_FIELD(O, positive),
        .help = "codes >= 0",
        .recorded = true,
        .resume_must_match = true},
       "positive"},
      {{.flag = "max-iter",
        .python = "max_iter",
        .field = DICTLEARN_FIELD(O, max_iter),
        .help = "the most iterations per signal: lasso-lars's path steps, lasso-cd's passes, "
                "fista's proximal steps",
        .range = at_least(1),
        .recorded = true,
        .resume_must_match = true},
       "max_iter"},
      {{.flag = "coder-tol",
        .python = "coder_tol",
        .field = DICTLEARN_FIELD(O, tol),
        .help = "the iterative coders' stopping tolerance on the duality gap, relative to |x|^2",
        .range = non_negative_finite(),
        .recorded = true,
        .resume_must_match = true},
       "tol"},
      {{.flag = "threads",
        .python = "n_jobs",
        .field = DICTLEARN_FIELD(O, threads),
        .help = fmt::format("worker threads (0: all cores; at most {} per core); results do not "
                            "depend on it",
                            kThreadsPerCore),
        .range = at_least(0, " (0: all cores)")},
       ""},
  };
  // Each help ends with the coders that read the row, from their traits.
  for (CodingRow& row : rows) {
    if (row.member.empty()) continue;
    std::vector<std::string> names;
    for (const CoderTraits& traits : coder_table()) {
      if (reads_member(traits, row.member)) names.push_back(dashed(traits.name));
    }
    std::string list;
    for (const std::string& name : names) list += (list.empty() ? "" : ", ") + name;
    row.parameter.help += " [" + (list.empty() ? std::string("no coder yet") : list) + "]";
  }
  return rows;
}

#pragma GCC diagnostic pop
#undef DICTLEARN_FIELD

const std::vector<CodingRow>& coding_rows() {
  static const std::vector<CodingRow> rows = make_rows();
  return rows;
}

const CodingRow& coding_row(const Parameter<CodingOptions>& parameter) {
  for (const CodingRow& row : coding_rows()) {
    if (row.parameter.flag == parameter.flag) return row;
  }
  DICTLEARN_FAIL("--{}: not a coding option", parameter.flag);
}

}  // namespace

const std::vector<Parameter<CodingOptions>>& coding_parameters() {
  static const std::vector<Parameter<CodingOptions>> table = [] {
    std::vector<Parameter<CodingOptions>> out;
    for (const CodingRow& row : coding_rows()) out.push_back(row.parameter);
    return out;
  }();
  return table;
}

std::string coder_flag_name(CoderKind kind) { return dashed(coder_name(kind)); }

std::vector<CoderKind> coders_reading(const Parameter<CodingOptions>& parameter) {
  const std::string& member = coding_row(parameter).member;
  std::vector<CoderKind> kinds;
  for (const CoderTraits& traits : coder_table()) {
    if (reads_member(traits, member)) kinds.push_back(traits.kind);
  }
  return kinds;
}

void check_coding_flags(const CodingOptions& options, const std::set<std::string>& given) {
  const bool coder = given.count("coder") > 0;
  for (const CodingRow& row : coding_rows()) {
    const std::string& flag = row.parameter.flag;
    if (flag == "coder" || given.count(flag) == 0) continue;
    DICTLEARN_CHECK(coder, "--{}: only with --coder; the model's own encoder does not read it",
                    flag);
    DICTLEARN_CHECK(reads_member(coder_traits(options.method), row.member),
                    "--{}: the {} coder does not read it", flag, coder_flag_name(options.method));
  }
  DICTLEARN_CHECK(given.count("n-nonzero") == 0 || options.n_nonzero >= 1,
                  "--n-nonzero: must be >= 1, got {}", options.n_nonzero);
}

CodingOptions recorded_coding(const std::map<std::string, std::string>& metadata,
                              const std::string& where) {
  DICTLEARN_CHECK(metadata.count("train.coder") > 0,
                  "{}: the model has no encoder and no recorded coder (metadata 'train.coder'); "
                  "code with --coder",
                  where);
  CodingOptions coding;
  read_parameters(coding_parameters(), metadata, coding, where + ": metadata");
  try {
    validate(coding);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: metadata: {}", where, e.what()));
  }
  return coding;
}

std::string coders_help() {
  std::string text = "Coders (--coder; each flag above ends with the coders that read it):\n";
  size_t width = 0;
  for (const CoderTraits& traits : coder_table())
    width = std::max(width, dashed(traits.name).size());
  for (const CoderTraits& traits : coder_table())
    text += fmt::format("  {:<{}}  {}\n", dashed(traits.name), width, traits.help);
  return text;
}

std::string coding_options_markdown() {
  std::string text =
      "\n## Coding options of `dictlearn encode` and `dictlearn eval`\n\n"
      "`dictlearn::CodingOptions` in the library (include/dictlearn/coders.hpp). Without\n"
      "`--coder` the codes are the model's own encoder's, or for a model learned by\n"
      "`fit --method online|alternating|mod|ksvd` (no encoder) those of the coder it\n"
      "recorded, and the other flags here are refused; with it, a flag the chosen coder does not "
      "read is refused (the brackets\n"
      "list the coders that read each), and so is `--n-nonzero` below 1 (leave it out for\n"
      "the default). The library's `CodingOptions{}` has the defaults below, with\n"
      "`threshold` as its method. *In metadata*: `record_parameters(coding_parameters(), ...)`\n"
      "writes every row but `--threads` as `train.<flag>`; a model learned by `fit --method`\n"
      "records the rows its coder reads, which `encode`, `eval`, `reconstruct` and `plot`\n"
      "read back (`recorded_coding`).\n\n"
      "| flag | type | default | check | Python | what it does |\n"
      "|---|---|---|---|---|---|\n";
  const CodingOptions defaults;
  for (const auto& p : coding_parameters()) {
    std::string type = parameter_type(p);
    if (!parameter_choices(p).empty()) type = either(parameter_choices(p));
    const std::string value = p.flag == "coder" ? "the model's encoder"
                                                : fmt::format("`{}`", parameter_value(p, defaults));
    fmt::format_to(std::back_inserter(text), "| `--{}` | {} | {} | {} | `{}` | {} |\n", p.flag,
                   type, value, escape_cell(range_requirement(p.range)), p.python,
                   escape_cell(p.help));
  }
  text +=
      "\nThe coders, from the coder table (src/coders/coders.cpp):\n\n| coder | what it does "
      "|\n|---|---|\n";
  for (const CoderTraits& traits : coder_table())
    text += fmt::format("| `{}` | {} |\n", dashed(traits.name), escape_cell(traits.help));
  return text;
}

}  // namespace dictlearn
