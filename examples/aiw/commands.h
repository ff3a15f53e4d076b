/*
 * commands.h -- the commands of the aiw CLI, one file each (cmd_embed.c,
 * cmd_search.c, cmd_process.c, cmd_chat.c, cmd_health.c).
 *
 * Each takes the global options parsed so far and its own argv (argv[0] is
 * the command word; getopt is re-initialised), parses its options (global
 * ones included), sends its RPC and prints the answer. Returns the exit
 * status.
 */
#ifndef AIW_COMMANDS_H
#define AIW_COMMANDS_H

#include "cli.h"

int cmd_embed(struct cli *cli, int argc, char **argv);
int cmd_search(struct cli *cli, int argc, char **argv);
int cmd_process(struct cli *cli, int argc, char **argv);
int cmd_chat(struct cli *cli, int argc, char **argv);
int cmd_health(struct cli *cli, int argc, char **argv);

#endif /* AIW_COMMANDS_H */
