from affiliates.cli import main

main()
