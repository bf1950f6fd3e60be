module pouch/kata/agent

go 1.19
