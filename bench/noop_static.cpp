// noop_static: a statically linked program that does nothing. Timing it
// measures the machine's floor for starting a process (fork/exec/exit,
// no dynamic loader), which every CLI invocation pays.
int main() {
  return 0;
}
