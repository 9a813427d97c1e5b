-- Every Dose_Hst delivery of a window of Tx_DtTm, whatever else Mosaiq holds of it: the
-- deliveries the backup accounts for, each in a record or listed as not converted.
-- Parameters: window start (inclusive), window end (exclusive), both dates, then an MRN
-- (Ident.IDA) twice, or NULL twice for every patient.
-- FLD_ID is the field delivered, as in the deliveries query, and TxField_ID that field in
-- TxField, NULL when TxField has no such row (the deliveries query then returns nothing).
SELECT
    Dose_Hst.DHS_ID AS DHS_ID,
    Dose_Hst.Pat_ID1 AS Pat_ID1,
    Dose_Hst.Tx_DtTm AS Tx_DtTm,
    Ident.IDA AS MRN,
    COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID) AS FLD_ID,
    TxField.FLD_ID AS TxField_ID
FROM Dose_Hst
LEFT JOIN FLD_HST ON FLD_HST.DHS_ID = Dose_Hst.DHS_ID
LEFT JOIN TxField ON TxField.FLD_ID = COALESCE(FLD_HST.FLD_ID, Dose_Hst.FLD_ID)
LEFT JOIN Ident ON Ident.Pat_Id1 = Dose_Hst.Pat_ID1
WHERE Dose_Hst.Tx_DtTm >= ? AND Dose_Hst.Tx_DtTm < ? AND (? IS NULL OR Ident.IDA = ?)
ORDER BY Dose_Hst.Tx_DtTm, Dose_Hst.DHS_ID
