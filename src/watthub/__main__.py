from watthub.cli import main

main()
