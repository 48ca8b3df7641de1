from chat_server.cli import main

main()
