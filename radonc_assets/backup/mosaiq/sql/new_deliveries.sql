-- The deliveries recorded after a cursor (Dose_Hst.DHS_ID, increasing as Mosaiq adds
-- rows) and treated on or after a date: what a sensor has not seen yet.
-- Parameters: the last DHS_ID seen (0 for none), the earliest treatment date (a date).
SELECT
    Dose_Hst.DHS_ID AS DHS_ID,
    Dose_Hst.Tx_DtTm AS Tx_DtTm
FROM Dose_Hst
WHERE Dose_Hst.DHS_ID > ? AND Dose_Hst.Tx_DtTm >= ?
ORDER BY Dose_Hst.DHS_ID
