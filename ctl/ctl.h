/* ratchetctl subcommands. Each takes argv with argv[0] = its own name and
 * returns the process exit status: 0 ok, 1 failure/invalid, 2 usage. */
#ifndef RATCHET_CTL_H
#define RATCHET_CTL_H

int cmd_policy_main(int argc, char **argv);
int cmd_replay_main(int argc, char **argv);
int cmd_cvss_main(int argc, char **argv);
int cmd_reasons_main(int argc, char **argv);
int cmd_status_main(int argc, char **argv);
int cmd_log_main(int argc, char **argv);
int cmd_keygen_main(int argc, char **argv);

#endif
