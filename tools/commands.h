// The lowrank program's larger commands, one file each.
#ifndef LOWRANK_TOOLS_COMMANDS_H_
#define LOWRANK_TOOLS_COMMANDS_H_

namespace lowrank_cli {

// `lowrank compare`: every method and rank against exact attention, beside
// the truncated-SVD bound (tools/compare.cc).
int CmdCompare(int argc, char** argv);
// `lowrank bench`: every method x target x shape x thread count
// (tools/bench_cmd.cc).
int CmdBench(int argc, char** argv);

}  // namespace lowrank_cli

#endif  // LOWRANK_TOOLS_COMMANDS_H_
