# Runs the ESP32's main.py as the board would, with /config.json, the fake machine and network,
# and the fake umqtt.simple playing /mqtt_plan.json; it ends when the plan is over.
import main

main.main()
