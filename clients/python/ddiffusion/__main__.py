from ddiffusion.cli import main

main()
