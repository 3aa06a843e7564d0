from dynmri.cli import main

main()
