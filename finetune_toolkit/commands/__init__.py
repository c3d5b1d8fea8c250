"""One module per subcommand of `finetune-toolkit`, each with a `main(argv)` that parses and calls the library."""
